#!/usr/bin/env python3
"""Turns CustomResourceDefinitions into JSON schemas for deploy/validate.sh.

    python3 deploy/schemas/crd-to-json-schema.py OUTDIR CRD.yaml... [--source TEXT]
        [--kinds KIND,KIND...]

Writes OUTDIR/<group>/<kind in lower case>_<version>.json for every served version of every
CRD in the files (of the named kinds only, with --kinds). --source says where the CRDs came
from, in each schema's $comment. The validation is what an API server with strict field validation (the
default of `kubectl apply` since Kubernetes 1.27) does with the CRD's openAPIV3Schema:

- an object with `properties` allows no other fields (unknown fields are errors), unless it
  has `x-kubernetes-preserve-unknown-fields` or `additionalProperties` of its own;
- `x-kubernetes-int-or-string` is an integer or a string; `nullable` adds null;
- `metadata` must have a name (a DNS subdomain), and string labels and annotations;
- apiVersion and kind must be this CRD's.

Descriptions are left out (the CRD has them). CEL rules (`x-kubernetes-validations`) are
not evaluated: they are dropped, and the script names the ones it drops.

Needs PyYAML only (deploy/validate.sh's virtualenv has it).
"""

import json
import pathlib
import sys

import yaml

DROP = {
    "description",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
    "x-kubernetes-embedded-resource",
}

METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {
            "type": "string",
            "maxLength": 253,
            "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        },
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def convert(node, path, dropped):
    if isinstance(node, list):
        return [convert(x, path, dropped) for x in node]
    if not isinstance(node, dict):
        return node
    if "x-kubernetes-validations" in node:
        for rule in node["x-kubernetes-validations"]:
            dropped.append(f"{path or '.'}: {rule.get('rule')}")
    out = {}
    for key, value in node.items():
        if key in DROP:
            continue
        if key == "properties":
            out[key] = {k: convert(v, f"{path}.{k}", dropped) for k, v in value.items()}
        elif key == "items":
            out[key] = convert(value, f"{path}[]", dropped)
        elif key == "additionalProperties" and isinstance(value, dict):
            out[key] = convert(value, f"{path}.*", dropped)
        elif key in ("anyOf", "allOf", "oneOf", "not"):
            out[key] = convert(value, path, dropped)
        else:
            out[key] = value
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in out and not preserve and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def option(argv, name):
    if name not in argv:
        return None
    i = argv.index(name)
    value = argv[i + 1]
    del argv[i : i + 2]
    return value


def main(argv):
    source = option(argv, "--source")
    kinds = option(argv, "--kinds")
    kinds = set(kinds.split(",")) if kinds else None
    if len(argv) < 2:
        sys.exit(__doc__)
    outdir = pathlib.Path(argv[0])
    for crd_file in argv[1:]:
        documents = [d for d in yaml.safe_load_all(pathlib.Path(crd_file).read_text()) if d]
        # `kubectl get crd … -o yaml` prints a List.
        documents = [i for d in documents for i in (d.get("items", []) if d.get("kind") == "List" else [d])]
        for crd in documents:
            if crd.get("kind") != "CustomResourceDefinition":
                continue
            group = crd["spec"]["group"]
            kind = crd["spec"]["names"]["kind"]
            if kinds is not None and kind not in kinds:
                continue
            for version in crd["spec"]["versions"]:
                if not version.get("served", True):
                    continue
                dropped = []
                schema = convert(version["schema"]["openAPIV3Schema"], "", dropped)
                api_version = f"{group}/{version['name']}"
                schema["properties"]["apiVersion"] = {"const": api_version}
                schema["properties"]["kind"] = {"const": kind}
                schema["properties"]["metadata"] = METADATA
                schema["required"] = sorted({"apiVersion", "kind", "metadata", *schema.get("required", [])})
                comment = f"{kind} {api_version} from the CRD {crd['metadata']['name']}"
                if source:
                    comment += f" ({source})"
                comment += ", converted by deploy/schemas/crd-to-json-schema.py"
                if dropped:
                    comment += "; CEL rules not checked: " + "; ".join(dropped)
                document = {
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "$comment": comment,
                    **schema,
                }
                target = outdir / group / f"{kind.lower()}_{version['name']}.json"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
                print(f"{target}: {kind} {api_version}")


if __name__ == "__main__":
    main(sys.argv[1:])
