//! What no generated client would send: protobuf bytes made by hand (invalid UTF-8 in a
//! string, groups nested a hundred thousand deep), sent through a codec that passes them as
//! they are.

use std::collections::{HashMap, HashSet};

use bytes::{Buf, BufMut};
use prost::Message;
use prost_types::FileDescriptorSet;
use spontan_e2e::authed;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

/// Sends and receives protobuf bytes as they are, so that a test can send what no generated
/// client would encode.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

/// Calls `method` (`/package.Service/Method`) with `body` as the encoded request.
pub(super) async fn raw_call(
    channel: Channel,
    method: &'static str,
    body: Vec<u8>,
    token: Option<&str>,
) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let request = match token {
        Some(token) => authed(body, token),
        None => tonic::Request::new(body),
    };
    grpc.unary(request, PathAndQuery::from_static(method), RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

/// `message` encoded with `placeholder` (ASCII) replaced by the same number of bytes that are
/// not UTF-8: what a broken or malicious client could send in a string field.
pub(super) fn with_invalid_utf8(encoded: Vec<u8>, placeholder: &str) -> Vec<u8> {
    let needle = placeholder.as_bytes();
    let at = encoded
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the placeholder is in the encoding");
    let mut out = encoded;
    for (i, byte) in out[at..at + needle.len()].iter_mut().enumerate() {
        *byte = if i % 2 == 0 { 0xff } else { 0xfe };
    }
    out
}

/// No message of the schema contains itself, directly or through others, so the nesting
/// depth of a readable request is bounded by the schema.
pub(super) fn assert_no_recursive_messages() {
    let set = FileDescriptorSet::decode(spontan_proto::FILE_DESCRIPTOR_SET).expect("schema");
    let mut edges: HashMap<String, Vec<String>> = HashMap::new();
    for file in &set.file {
        for message in &file.message_type {
            let name = format!(".{}.{}", file.package(), message.name());
            let children = message
                .field
                .iter()
                .filter(|f| !f.type_name().is_empty())
                .map(|f| f.type_name().to_owned())
                .collect();
            edges.insert(name, children);
        }
    }
    fn visit(
        node: &str,
        edges: &HashMap<String, Vec<String>>,
        path: &mut Vec<String>,
        done: &mut HashSet<String>,
    ) {
        assert!(
            !path.iter().any(|p| p == node),
            "recursive message: {path:?} -> {node}"
        );
        if done.contains(node) {
            return;
        }
        path.push(node.to_owned());
        for child in edges.get(node).into_iter().flatten() {
            visit(child, edges, path, done);
        }
        path.pop();
        done.insert(node.to_owned());
    }
    let mut done = HashSet::new();
    for node in edges.keys() {
        visit(node, &edges, &mut Vec::new(), &mut done);
    }
}
