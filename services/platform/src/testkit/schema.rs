//! The compiled API schema as tests read it: every message type by full name, and whether a
//! field path names a field of a message. Property tests check with it that each field
//! violation of a refusal names a field that exists, against the schema rather than a list
//! kept by hand.

use std::collections::HashMap;
use std::sync::LazyLock;

use prost::Message;
use prost_types::field_descriptor_proto::Label;
use prost_types::{DescriptorProto, FileDescriptorSet};

use crate::error::{ApiError, FieldViolation};

static MESSAGES: LazyLock<HashMap<String, DescriptorProto>> = LazyLock::new(|| {
    fn add(prefix: &str, m: &DescriptorProto, into: &mut HashMap<String, DescriptorProto>) {
        let name = format!("{prefix}.{}", m.name());
        for nested in &m.nested_type {
            add(&name, nested, into);
        }
        into.insert(name, m.clone());
    }
    let set = FileDescriptorSet::decode(spontan_proto::FILE_DESCRIPTOR_SET)
        .expect("the compiled schema decodes");
    let mut all = HashMap::new();
    for file in &set.file {
        for m in &file.message_type {
            add(&format!(".{}", file.package()), m, &mut all);
        }
    }
    all
});

/// Every message of the schema, nested ones included, by full name
/// (`.spontan.v1.RegisterRequest`, `.spontan.v1.Outer.Inner`).
pub fn messages() -> &'static HashMap<String, DescriptorProto> {
    &MESSAGES
}

/// Whether `path` (`contact.phone_e164`, `availability[3].end_time`) names a field of
/// `message`: each segment a field of the one before, `[i]` only on repeated fields.
pub fn names_a_field(message: &str, path: &str) -> bool {
    let mut current = message.to_owned();
    let segments: Vec<&str> = path.split('.').collect();
    for (i, segment) in segments.iter().enumerate() {
        let (name, index) = match segment.split_once('[') {
            Some((name, rest)) => (name, Some(rest)),
            None => (*segment, None),
        };
        let Some(field) = MESSAGES
            .get(&current)
            .and_then(|m| m.field.iter().find(|f| f.name() == name))
        else {
            return false;
        };
        if let Some(rest) = index {
            let digits = rest.strip_suffix(']').unwrap_or("x");
            if field.label() != Label::Repeated
                || digits.is_empty()
                || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return false;
            }
        }
        if i + 1 < segments.len() {
            current = field.type_name().to_owned();
        }
    }
    true
}

/// The field violations of `error`, after asserting that it is a proper refusal of a
/// `message` (full name): `InvalidArgument`, at least one violation, and each naming a field
/// of `message`.
pub fn assert_refusal_of(error: ApiError, message: &str) -> Vec<FieldViolation> {
    assert_eq!(error.code(), tonic::Code::InvalidArgument, "{error:?}");
    let ApiError::InvalidArgument(list) = error else {
        unreachable!("the code is InvalidArgument")
    };
    assert!(!list.is_empty(), "a refusal without a field violation");
    for violation in &list {
        assert!(
            names_a_field(message, &violation.field),
            "violation {:?} names no field of {message}",
            violation.field
        );
    }
    list
}
