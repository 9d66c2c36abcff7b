//! Browsers call the services over gRPC-Web on the same port as native gRPC. These tests
//! speak gRPC-Web over HTTP/1.1 the way a browser's fetch does (hyper as the client), next to
//! a native gRPC client on the same address: a unary call, a rich error whose field
//! violations the web client decodes, a server stream, and CORS for named origins only.

mod common;

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use common::*;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prost::Message;
use spontan_platform::testkit::violated_fields;
use spontan_proto::v1::*;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

const APP_ORIGIN: &str = "http://app.spontan.test:8080";

async fn app() -> TestApp {
    TestApp::spawn_with(|config| {
        config.platform.grpc.cors_allowed_origins = vec![APP_ORIGIN.to_owned()];
    })
    .await
}

/// One gRPC-Web call: the answer's messages and its status (from the trailers frame, or from
/// the headers of a trailers-only answer).
struct WebAnswer {
    headers: http::HeaderMap,
    messages: Vec<Bytes>,
    status: tonic::Status,
}

fn frame(message: &impl Message) -> Bytes {
    let body = message.encode_to_vec();
    let mut framed = BytesMut::with_capacity(5 + body.len());
    framed.put_u8(0);
    framed.put_u32(body.len() as u32);
    framed.put_slice(&body);
    framed.freeze()
}

async fn grpc_web_call(
    app: &TestApp,
    path: &str,
    message: &impl Message,
    origin: Option<&str>,
) -> WebAnswer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = http::Request::post(format!("http://{}{path}", app.addr))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .header("accept", "application/grpc-web+proto");
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let request = request.body(Full::new(frame(message))).expect("request");
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .expect("answer in time")
        .expect("http/1.1 call");
    assert_eq!(response.version(), http::Version::HTTP_11);
    let headers = response.headers().clone();
    let mut body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();

    let mut messages = Vec::new();
    let mut trailers = http::HeaderMap::new();
    while body.remaining() >= 5 {
        let flag = body.get_u8();
        let len = body.get_u32() as usize;
        let payload = body.split_to(len);
        if flag & 0x80 != 0 {
            for line in String::from_utf8_lossy(&payload).split("\r\n") {
                if let Some((name, value)) = line.split_once(':') {
                    trailers.insert(
                        http::HeaderName::from_bytes(name.trim().as_bytes()).expect("name"),
                        http::HeaderValue::from_str(value.trim()).expect("value"),
                    );
                }
            }
        } else {
            messages.push(payload);
        }
    }
    let status = tonic::Status::from_header_map(&trailers)
        .or_else(|| tonic::Status::from_header_map(&headers))
        .expect("a grpc-status in the trailers or headers");
    WebAnswer {
        headers,
        messages,
        status,
    }
}

#[tokio::test]
async fn native_grpc_and_grpc_web_are_answered_on_the_same_port() {
    let app = app().await;
    let native = app
        .client()
        .await
        .list_skills(ListSkillsRequest::default())
        .await
        .expect("native gRPC")
        .into_inner();

    let web = grpc_web_call(
        &app,
        "/spontan.v1.RegistrationService/ListSkills",
        &ListSkillsRequest::default(),
        None,
    )
    .await;
    assert_eq!(web.status.code(), tonic::Code::Ok, "{:?}", web.status);
    assert_eq!(
        web.headers["content-type"].to_str().expect("ascii"),
        "application/grpc-web+proto"
    );
    assert_eq!(web.messages.len(), 1);
    let over_web = ListSkillsResponse::decode(web.messages[0].clone()).expect("decode");
    assert!(!over_web.skills.is_empty());
    assert_eq!(over_web, native);
    app.stop().await;
}

#[tokio::test]
async fn a_registration_over_grpc_web_reports_every_field_violation_in_its_details() {
    let app = app().await;
    let mut request = valid_request();
    request.birth_year = 2024;
    request.travel_radius_km = 500.0;
    request.consent = None;
    let web = grpc_web_call(
        &app,
        "/spontan.v1.RegistrationService/Register",
        &request,
        Some(APP_ORIGIN),
    )
    .await;
    assert_eq!(web.status.code(), tonic::Code::InvalidArgument);
    let mut fields = violated_fields(&web.status);
    fields.sort();
    assert!(fields.contains(&"birth_year".to_owned()), "{fields:?}");
    assert!(
        fields.contains(&"travel_radius_km".to_owned()),
        "{fields:?}"
    );
    assert!(
        fields.iter().any(|f| f.starts_with("consent")),
        "{fields:?}"
    );
    // The browser's code may read the status and its details only if they are exposed.
    let exposed = web.headers["access-control-expose-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    for header in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        assert!(exposed.contains(header), "{header} not in {exposed}");
    }
    assert_eq!(web.headers["access-control-allow-origin"], APP_ORIGIN);

    // The same request registers over gRPC-Web once it is valid.
    let web = grpc_web_call(
        &app,
        "/spontan.v1.RegistrationService/Register",
        &valid_request(),
        Some(APP_ORIGIN),
    )
    .await;
    assert_eq!(web.status.code(), tonic::Code::Ok, "{:?}", web.status);
    let registered = RegisterResponse::decode(web.messages[0].clone()).expect("decode");
    assert!(!registered.access_token.is_empty());
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM volunteers WHERE id = $1::uuid")
        .bind(&registered.volunteer_id)
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(stored, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_server_stream_reaches_a_grpc_web_client() {
    let app = app().await;
    // Health.Watch streams until the client goes; its first message is the current status.
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = http::Request::post(format!("http://{}/grpc.health.v1.Health/Watch", app.addr))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(Full::new(frame(&HealthCheckRequest {
            service: String::new(),
        })))
        .expect("request");
    let response = client.request(request).await.expect("call");
    assert_eq!(response.status(), http::StatusCode::OK);
    let mut body = response.into_body();
    let mut buffer = BytesMut::new();
    let first = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let frame = body.frame().await.expect("stream open").expect("frame");
            if let Ok(data) = frame.into_data() {
                buffer.extend_from_slice(&data);
            }
            if buffer.len() >= 5 {
                let len = u32::from_be_bytes([buffer[1], buffer[2], buffer[3], buffer[4]]) as usize;
                if buffer.len() >= 5 + len {
                    assert_eq!(buffer[0], 0, "a message frame, not the trailers");
                    return HealthCheckResponse::decode(&buffer[5..5 + len]).expect("decode");
                }
            }
        }
    })
    .await
    .expect("first streamed message in time");
    assert_eq!(
        first.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    app.stop().await;
}

async fn preflight(app: &TestApp, origin: &str) -> http::Response<hyper::body::Incoming> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = http::Request::options(format!(
        "http://{}/spontan.v1.RegistrationService/Register",
        app.addr
    ))
    .header("origin", origin)
    .header("access-control-request-method", "POST")
    .header(
        "access-control-request-headers",
        "content-type,x-grpc-web,x-user-agent,authorization",
    )
    .body(Full::new(Bytes::new()))
    .expect("request");
    client.request(request).await.expect("preflight")
}

#[tokio::test]
async fn only_configured_origins_may_call_from_another_origin() {
    let app = app().await;
    let allowed = preflight(&app, APP_ORIGIN).await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(allowed.headers()["access-control-allow-origin"], APP_ORIGIN);
    let headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    for header in ["content-type", "x-grpc-web", "authorization"] {
        assert!(headers.contains(header), "{header} not in {headers}");
    }

    let foreign = preflight(&app, "https://evil.example").await;
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "a foreign origin was allowed"
    );
    // A foreign page's call is still answered (CORS is the browser's rule), but without the
    // header that would let its script read the answer.
    let web = grpc_web_call(
        &app,
        "/spontan.v1.RegistrationService/ListSkills",
        &ListSkillsRequest::default(),
        Some("https://evil.example"),
    )
    .await;
    assert!(web.headers.get("access-control-allow-origin").is_none());
    app.stop().await;
}

#[test]
fn configured_origins_are_checked_at_load() {
    use spontan_platform::grpc::check_origin;
    assert!(check_origin("https://spontan.example.org").is_ok());
    assert!(check_origin("http://127.0.0.1:8080").is_ok());
    for bad in [
        "*",
        "spontan.example.org",
        "https://",
        "https://spontan.example.org/",
        "https://*.example.org",
    ] {
        assert!(check_origin(bad).is_err(), "{bad} accepted");
    }
}
