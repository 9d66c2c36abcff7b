//! Arbitrary bytes as what the matching service reads from outside: event envelopes from the
//! volunteer and task topics (`convert::volunteer`, `convert::task`) and the ids and limits of
//! its requests (`convert::parse_id`, `feed::limit`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use spontan_matching::{convert, feed};
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::*;

fn task(snapshot: &TaskSnapshot) {
    if let Some(t) = convert::task(snapshot, 1) {
        assert!(t.window.start < t.window.end);
        assert!(t.location.lat.is_finite() && t.location.lat.abs() <= 90.0);
        assert!(t.location.lon.is_finite() && t.location.lon.abs() <= 180.0);
        assert!(t.max_distance_km >= 0.0);
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = EventEnvelope::decode(data) {
        let version = envelope.aggregate_version;
        match envelope.payload {
            Some(Payload::VolunteerRegistered(e)) => {
                if let Some(v) = e.volunteer.and_then(|v| convert::volunteer(&v, version)) {
                    assert!(v.availability.iter().all(|w| w.start < w.end));
                    assert!(v.travel_radius_km >= 0.0);
                }
            }
            Some(Payload::TaskCreated(e)) => {
                if let Some(t) = e.task {
                    task(&t);
                }
            }
            _ => {}
        }
    }
    if let Ok(snapshot) = TaskSnapshot::decode(data) {
        task(&snapshot);
    }
    if let Ok(request) = RespondToOfferRequest::decode(data) {
        if let Err(error) = convert::parse_id("match_id", &request.match_id) {
            spontan_fuzz::assert_refusal(error);
        }
    }
    if let Ok(request) = ListMatchChangesRequest::decode(data) {
        if let Err(error) = convert::parse_id("incident_id", &request.incident_id) {
            spontan_fuzz::assert_refusal(error);
        }
        if let Err(error) = feed::limit(request.limit) {
            spontan_fuzz::assert_refusal(error);
        }
    }
});
