//! The Spontan API: gRPC services and Kafka event payloads generated from `proto/spontan/v1`.
//!
//! Every service and client in the suite uses these types; nothing else defines wire formats.
//! [`FILE_DESCRIPTOR_SET`] is the compiled schema, served by gRPC reflection so that tools such
//! as `grpcurl` can call the services without the `.proto` files.

/// Version 1 of the API (`package spontan.v1`).
pub mod v1 {
    #![allow(clippy::all, clippy::pedantic, missing_docs)]
    tonic::include_proto!("spontan.v1");
}

/// The encoded `FileDescriptorSet` of every `.proto` file in this crate.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("spontan_descriptor");

/// `type_name()` of every event payload: the fully-qualified proto message name, used as the
/// envelope's `event_type` and the CloudEvents `ce_type`. The match is exhaustive, so a payload
/// added to `events.proto` without a name here does not compile.
macro_rules! payload_type_names {
    ($($variant:ident),* $(,)?) => {
        impl v1::event_envelope::Payload {
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => concat!("spontan.v1.", stringify!($variant)),)*
                }
            }
        }
    };
}

payload_type_names!(
    VolunteerRegistered,
    VolunteerUpdated,
    VolunteerPaused,
    VolunteerResumed,
    VolunteerErased,
    IncidentOpened,
    IncidentClosed,
    IncidentShared,
    TaskCreated,
    TaskUpdated,
    TaskCancelled,
    TaskCompleted,
    MatchProposed,
    MatchOffered,
    MatchAccepted,
    MatchDeclined,
    MatchExpired,
    MatchCancelled,
    MatchCheckedIn,
    MatchCompleted,
    MatchNoShow,
);
