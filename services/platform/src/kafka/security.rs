//! TLS and SASL to the brokers: [`KafkaSecurity`] turned into librdkafka's settings, in the
//! one place every client (producer, consumers, admin, lag reader) is configured.

use rdkafka::config::ClientConfig;

use crate::config::KafkaSecurity;

const PROTOCOLS: [&str; 4] = ["plaintext", "ssl", "sasl_ssl", "sasl_plaintext"];
const MECHANISMS: [&str; 3] = ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"];

/// The protocol, `plaintext` when none is configured.
fn protocol(security: &KafkaSecurity) -> &str {
    match security.protocol.as_str() {
        "" => "plaintext",
        other => other,
    }
}

fn uses_tls(security: &KafkaSecurity) -> bool {
    matches!(protocol(security), "ssl" | "sasl_ssl")
}

fn uses_sasl(security: &KafkaSecurity) -> bool {
    protocol(security).starts_with("sasl_")
}

/// Appends one message per problem of `kafka.security.*`.
pub fn validate(security: &KafkaSecurity, problems: &mut Vec<String>) {
    let protocol = protocol(security);
    if !PROTOCOLS.contains(&protocol) {
        problems.push(format!(
            "kafka.security.protocol must be one of {}",
            PROTOCOLS.join(", ")
        ));
        return;
    }
    if !uses_tls(security)
        && [&security.ca_file, &security.cert_file, &security.key_file]
            .iter()
            .any(|f| !f.is_empty())
    {
        problems.push(
            "kafka.security ca_file, cert_file and key_file need protocol ssl or sasl_ssl".into(),
        );
    }
    if security.cert_file.is_empty() != security.key_file.is_empty() {
        problems.push("kafka.security.cert_file and key_file go together".into());
    }
    for (name, file) in [
        ("ca_file", &security.ca_file),
        ("cert_file", &security.cert_file),
        ("key_file", &security.key_file),
    ] {
        if !file.is_empty() && !std::path::Path::new(file).is_file() {
            problems.push(format!("kafka.security.{name}: no file {file}"));
        }
    }
    if uses_sasl(security) {
        if security.sasl_username.is_empty() || security.sasl_password.expose().is_empty() {
            problems.push(format!(
                "kafka.security.protocol {protocol} needs sasl_username and sasl_password"
            ));
        }
        let mechanism = mechanism(security);
        if !MECHANISMS.contains(&mechanism) {
            problems.push(format!(
                "kafka.security.sasl_mechanism must be one of {}",
                MECHANISMS.join(", ")
            ));
        }
        if protocol == "sasl_plaintext" && mechanism == "PLAIN" {
            problems.push(
                "kafka.security: PLAIN over sasl_plaintext sends the password in clear; use sasl_ssl"
                    .into(),
            );
        }
    }
}

fn mechanism(security: &KafkaSecurity) -> &str {
    match security.sasl_mechanism.as_str() {
        "" => "SCRAM-SHA-512",
        other => other,
    }
}

/// Sets librdkafka's `security.protocol`, `ssl.*` and `sasl.*` from `security`. The broker's
/// host name is checked against its certificate (librdkafka's default, kept).
pub fn apply(security: &KafkaSecurity, client: &mut ClientConfig) {
    client.set("security.protocol", protocol(security));
    if uses_tls(security) {
        if !security.ca_file.is_empty() {
            client.set("ssl.ca.location", &security.ca_file);
        }
        if !security.cert_file.is_empty() {
            client
                .set("ssl.certificate.location", &security.cert_file)
                .set("ssl.key.location", &security.key_file);
        }
    }
    if uses_sasl(security) {
        client
            .set("sasl.mechanism", mechanism(security))
            .set("sasl.username", &security.sasl_username)
            .set("sasl.password", security.sasl_password.expose());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn settings(security: &KafkaSecurity) -> Vec<(String, String)> {
        let mut client = ClientConfig::new();
        apply(security, &mut client);
        let mut pairs: Vec<(String, String)> = client
            .config_map()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        pairs.sort();
        pairs
    }

    fn problems(security: &KafkaSecurity) -> Vec<String> {
        let mut problems = Vec::new();
        validate(security, &mut problems);
        problems
    }

    #[test]
    fn strimzi_scram_over_tls_becomes_librdkafkas_settings() {
        let security = KafkaSecurity {
            protocol: "sasl_ssl".into(),
            ca_file: "/etc/kafka-ca/ca.crt".into(),
            sasl_username: "spontan-task".into(),
            sasl_password: Secret::new("s3cret"),
            ..KafkaSecurity::default()
        };
        let pairs = settings(&security);
        for expected in [
            ("security.protocol", "sasl_ssl"),
            ("ssl.ca.location", "/etc/kafka-ca/ca.crt"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "spontan-task"),
        ] {
            assert!(
                pairs.contains(&(expected.0.into(), expected.1.into())),
                "{expected:?} in {pairs:?}"
            );
        }
        let mut client = ClientConfig::new();
        apply(&security, &mut client);
        assert_eq!(client.get("sasl.password"), Some("s3cret"));
        assert_eq!(
            settings(&KafkaSecurity::default()),
            [("security.protocol".into(), "plaintext".into())]
        );
    }

    #[test]
    fn incomplete_or_unsafe_security_is_refused_at_start() {
        let no_password = KafkaSecurity {
            protocol: "sasl_ssl".into(),
            sasl_username: "spontan-task".into(),
            ..KafkaSecurity::default()
        };
        assert!(problems(&no_password)[0].contains("sasl_password"));
        let clear = KafkaSecurity {
            protocol: "sasl_plaintext".into(),
            sasl_mechanism: "PLAIN".into(),
            sasl_username: "u".into(),
            sasl_password: Secret::new("p"),
            ..KafkaSecurity::default()
        };
        assert!(problems(&clear).iter().any(|p| p.contains("in clear")));
        let typo = KafkaSecurity {
            protocol: "tls".into(),
            ..KafkaSecurity::default()
        };
        assert!(problems(&typo)[0].contains("must be one of"));
        let certificate_without_tls = KafkaSecurity {
            cert_file: "/x".into(),
            key_file: "/y".into(),
            ..KafkaSecurity::default()
        };
        assert!(!problems(&certificate_without_tls).is_empty());
        assert!(problems(&KafkaSecurity::default()).is_empty());
    }
}
