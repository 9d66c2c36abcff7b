//! The topics around matching: volunteer and task events published the way registration and
//! task would, and a reader of the match topic.

use std::time::Duration;

use chrono::Utc;
use rdkafka::producer::FutureRecord;
use spontan_platform::events::{envelope, timestamp};
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::*;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use spontan_platform::testkit::{read_events, receive_until_quiet};

use super::{CENTRE, ORG, TestApp, authed, try_eventually};

impl TestApp {
    /// Publishes an envelope (or a tombstone for `None`) with a real producer.
    pub async fn publish(
        &self,
        topic: &str,
        key: &str,
        event: Option<&EventEnvelope>,
    ) -> anyhow::Result<()> {
        let bytes = event.map(prost::Message::encode_to_vec);
        let mut record = FutureRecord::<str, [u8]>::to(topic).key(key);
        if let Some(bytes) = &bytes {
            record = record.payload(bytes.as_slice());
        }
        self.producer
            .send(record, Duration::from_secs(10))
            .await
            .map_err(|(e, _)| e)?;
        Ok(())
    }

    pub async fn open_incident(&self) -> anyhow::Result<Uuid> {
        let id = Uuid::now_v7();
        let event = envelope(
            id.to_string(),
            1,
            Payload::IncidentOpened(IncidentOpened {
                incident_id: id.to_string(),
                organisation_id: ORG.into(),
                region_centre: Some(point(CENTRE.0, CENTRE.1)),
                region_radius_km: 20.0,
            }),
        );
        let topic = self.config.platform.kafka.topics.task.clone();
        self.publish(&topic, &id.to_string(), Some(&event)).await?;
        Ok(id)
    }

    pub async fn publish_volunteer(
        &self,
        v: &MatchableVolunteer,
        version: u64,
    ) -> anyhow::Result<()> {
        let payload = match (version, v.status) {
            (1, _) => Payload::VolunteerRegistered(VolunteerRegistered {
                volunteer: Some(v.clone()),
            }),
            (_, s) if s == VolunteerStatus::Paused as i32 => {
                Payload::VolunteerPaused(VolunteerPaused {
                    volunteer: Some(v.clone()),
                })
            }
            _ => Payload::VolunteerUpdated(VolunteerUpdated {
                volunteer: Some(v.clone()),
            }),
        };
        let event = envelope(v.volunteer_id.clone(), version, payload);
        let topic = self.config.platform.kafka.topics.volunteer.clone();
        self.publish(&topic, &v.volunteer_id, Some(&event)).await
    }

    /// Registers a volunteer `km_north` of the centre with `first_aid`, 18-25, 30 km radius,
    /// available for the next three days; `tweak` changes anything before publishing.
    pub async fn add_volunteer(
        &self,
        km_north: f64,
        tweak: impl FnOnce(&mut MatchableVolunteer),
    ) -> anyhow::Result<Uuid> {
        let id = Uuid::new_v4();
        let mut v = volunteer(id, km_north);
        tweak(&mut v);
        self.publish_volunteer(&v, 1).await?;
        Ok(id)
    }

    pub async fn erase_volunteer(&self, id: Uuid) -> anyhow::Result<()> {
        let topic = self.config.platform.kafka.topics.volunteer.clone();
        let event = envelope(
            id.to_string(),
            9,
            Payload::VolunteerErased(VolunteerErased {
                volunteer_id: id.to_string(),
            }),
        );
        self.publish(&topic, &id.to_string(), Some(&event)).await?;
        self.publish(&topic, &id.to_string(), None).await
    }

    /// A task at the centre needing `headcount` people with `first_aid`, min age 18.
    pub fn task(&self, incident: Uuid, headcount: u32) -> TaskSnapshot {
        TaskSnapshot {
            task_id: Uuid::now_v7().to_string(),
            incident_id: incident.to_string(),
            organisation_id: ORG.into(),
            title: "fill sandbags".into(),
            address: "Alexanderplatz".into(),
            required_skill_ids: vec!["first_aid".into()],
            preferred_skill_ids: vec![],
            min_age: 18,
            headcount,
            window: Some(TimeWindow {
                start_time: Some(timestamp(self.window.0)),
                end_time: Some(timestamp(self.window.1)),
            }),
            priority: Priority::High as i32,
            meeting_point: Some(point(CENTRE.0, CENTRE.1)),
            max_distance_km: 20.0,
            status: TaskStatus::Open as i32,
            version: 1,
            required_languages: vec![],
            preferred_languages: vec![],
        }
    }

    pub async fn publish_task(&self, task: &TaskSnapshot) -> anyhow::Result<()> {
        let payload = if task.version == 1 {
            Payload::TaskCreated(TaskCreated {
                task: Some(task.clone()),
            })
        } else {
            Payload::TaskUpdated(TaskUpdated {
                task: Some(task.clone()),
                changed_fields: vec![],
            })
        };
        let event = envelope(task.task_id.clone(), task.version, payload);
        let topic = self.config.platform.kafka.topics.task.clone();
        self.publish(&topic, &task.task_id, Some(&event)).await
    }
}

pub fn point(latitude: f64, longitude: f64) -> GeoPoint {
    GeoPoint {
        latitude,
        longitude,
    }
}

pub fn volunteer(id: Uuid, km_north: f64) -> MatchableVolunteer {
    let now = Utc::now();
    MatchableVolunteer {
        volunteer_id: id.to_string(),
        skill_ids: vec!["first_aid".into()],
        languages: vec!["de".into()],
        age_band: AgeBand::Aged18To25 as i32,
        approximate_location: Some(point(CENTRE.0 + km_north / 111.2, CENTRE.1)),
        travel_radius_km: 30.0,
        availability: vec![TimeWindow {
            start_time: Some(timestamp(now)),
            end_time: Some(timestamp(now + chrono::Duration::days(3))),
        }],
        status: VolunteerStatus::Active as i32,
    }
}

impl TestApp {
    /// Reads the match topic from the start with a fresh group until `count` events arrived
    /// and nothing more came for two seconds.
    pub async fn match_events(&self, count: usize) -> anyhow::Result<Vec<EventEnvelope>> {
        let kafka = &self.config.platform.kafka;
        let stop = CancellationToken::new();
        let (mut rx, reader) = read_events(kafka, &kafka.topics.matching, stop.clone(), |event| {
            event.envelope.clone()
        })?;
        let events = receive_until_quiet(&mut rx, Duration::from_secs(60), |events| {
            events.len() >= count
        })
        .await;
        stop.cancel();
        let _ = reader.await;
        anyhow::ensure!(
            events.len() >= count,
            "only {} of {count} match events arrived",
            events.len()
        );
        Ok(events)
    }

    /// Waits until the incident is known and its region holds `count` available volunteers
    /// in the index (so a task published next sees all of them at once).
    pub async fn wait_for_volunteers(&self, incident: Uuid, count: u32) -> anyhow::Result<()> {
        try_eventually(
            Duration::from_secs(30),
            "volunteers in the index",
            || async {
                let mut client = self.client(self.any_instance()?).await?;
                let summary = client
                    .get_incident_summary(authed(
                        GetIncidentSummaryRequest {
                            incident_id: incident.to_string(),
                        },
                        &self.dashboard_token(),
                    ))
                    .await;
                Ok(match summary {
                    Ok(s) if s.get_ref().available_volunteers >= count => Some(()),
                    _ => None,
                })
            },
        )
        .await
    }
}
