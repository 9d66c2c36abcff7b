//! The RPCs and message types of the compiled schema, and the walk of an encoded answer that
//! finds personal fields and the fixture volunteer's data in it.

use std::collections::HashMap;

use prost::Message;
use prost_types::{DescriptorProto, FileDescriptorSet, field_descriptor_proto::Type};
use spontan_platform::testkit;

use super::{EMAIL, HOME, NAME, PHONE};

/// Services that are served but are not ours: the matrix does not cover them.
const EXCLUDED_SERVICES: &[&str] = &[
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// Personal fields (docs/privacy.md), by proto field name: none may be set in an answer to a
/// dashboard. With them the derived ones that would place a volunteer's home: an exact
/// distance to a meeting point, and the ranking score that falls with it (staff get a
/// `distance_band`).
const PERSONAL_FIELDS: &[&str] = &[
    "distance_km",
    "score",
    "contact",
    "display_name",
    "phone_e164",
    "email",
    "channel_addresses",
    "signal_phone_e164",
    "whatsapp_phone_e164",
    "telegram_chat_id",
    "push_token",
    "home_location",
    "birth_year",
    "volunteer_id",
];

/// Every RPC of our services in the schema, as `package.Service/Method`, with its response
/// type; and every message type by full name (`.spontan.v1.Task`).
pub(super) struct Schema {
    pub(super) methods: HashMap<String, String>,
    messages: &'static HashMap<String, DescriptorProto>,
}

pub(super) fn schema() -> Schema {
    let set = FileDescriptorSet::decode(spontan_proto::FILE_DESCRIPTOR_SET)
        .expect("the compiled schema decodes");
    let mut methods = HashMap::new();
    for file in &set.file {
        let package = file.package();
        for service in &file.service {
            let full = format!("{package}.{}", service.name());
            if EXCLUDED_SERVICES.contains(&full.as_str()) {
                continue;
            }
            for method in &service.method {
                methods.insert(
                    format!("{full}/{}", method.name()),
                    method.output_type().to_owned(),
                );
            }
        }
    }
    Schema {
        methods,
        messages: testkit::schema::messages(),
    }
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0_u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Walks the encoded message `bytes` of type `type_name` by its descriptor and records the
/// path of every personal field that is set (present on the wire).
fn personal_fields_set(
    schema: &Schema,
    type_name: &str,
    bytes: &[u8],
    path: &str,
    found: &mut Vec<String>,
) {
    let Some(message) = schema.messages.get(type_name) else {
        // Well-known types (Timestamp, Duration) carry no personal data.
        return;
    };
    let mut at = 0;
    while at < bytes.len() {
        let Some(key) = read_varint(bytes, &mut at) else {
            found.push(format!("{path}: malformed key"));
            return;
        };
        let number = i32::try_from(key >> 3).unwrap_or(-1);
        let field = message.field.iter().find(|f| f.number() == number);
        let name = field.map_or_else(|| format!("#{number}"), |f| f.name().to_owned());
        let here = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        if PERSONAL_FIELDS.contains(&name.as_str()) {
            found.push(here.clone());
        }
        match key & 7 {
            0 => {
                if read_varint(bytes, &mut at).is_none() {
                    found.push(format!("{here}: malformed varint"));
                    return;
                }
            }
            1 => at += 8,
            5 => at += 4,
            2 => {
                let len = read_varint(bytes, &mut at).unwrap_or(u64::MAX);
                let end = usize::try_from(len)
                    .ok()
                    .and_then(|len| at.checked_add(len))
                    .filter(|end| *end <= bytes.len());
                let Some(end) = end else {
                    found.push(format!("{here}: malformed length"));
                    return;
                };
                if let Some(f) = field
                    && f.r#type() == Type::Message
                {
                    personal_fields_set(schema, f.type_name(), &bytes[at..end], &here, found);
                }
                at = end;
            }
            other => {
                found.push(format!("{here}: wire type {other}"));
                return;
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Everything personal about the fixture volunteer that could leak, as bytes.
pub(super) fn markers(volunteer_id: &str) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("name", NAME.as_bytes().to_vec()),
        ("phone", PHONE.as_bytes().to_vec()),
        ("e-mail", EMAIL.as_bytes().to_vec()),
        ("volunteer id", volunteer_id.as_bytes().to_vec()),
        ("exact latitude", HOME.0.to_le_bytes().to_vec()),
        ("exact longitude", HOME.1.to_le_bytes().to_vec()),
    ]
}

/// Personal data in an encoded response: fields set, and markers found.
pub(super) fn leaks(
    schema: &Schema,
    response_type: &str,
    bytes: &[u8],
    markers: &[(&str, Vec<u8>)],
) -> Vec<String> {
    let mut found = Vec::new();
    personal_fields_set(schema, response_type, bytes, "", &mut found);
    for (what, marker) in markers {
        if contains(bytes, marker) {
            found.push(format!("the volunteer's {what}"));
        }
    }
    found
}
