//! What staff see of volunteers over real gRPC, PostgreSQL and the broker: a pseudonym per
//! task, so that one person's matches cannot be put together across tasks (the distance
//! bands and the missing score are checked in `offers.rs` and the access matrix).

mod common;

use std::time::Duration;

use common::TestApp;
use spontan_platform::testkit::try_eventually;
use spontan_proto::v1::*;

#[tokio::test]
async fn pseudonyms_differ_between_tasks() -> anyhow::Result<()> {
    let h = TestApp::spawn().await?;
    let incident = h.open_incident().await?;
    let volunteer = h.add_volunteer(1.0, |_| {}).await?;
    h.wait_for_volunteers(incident, 1).await?;
    let morning = h.task(incident, 1);
    // Later the same day, so that one person can take both.
    let mut afternoon = h.task(incident, 1);
    afternoon.window = Some(TimeWindow {
        start_time: Some(spontan_platform::events::timestamp(
            h.window.1 + chrono::Duration::hours(1),
        )),
        end_time: Some(spontan_platform::events::timestamp(
            h.window.1 + chrono::Duration::hours(3),
        )),
    });
    h.publish_task(&morning).await?;
    h.publish_task(&afternoon).await?;
    try_eventually(Duration::from_secs(30), "offers of both tasks", || async {
        let offered = h.offers(volunteer, false).await?;
        Ok((offered.len() == 2).then_some(()))
    })
    .await?;

    let mut refs = Vec::new();
    for task in [&morning, &afternoon] {
        let staffing = h.staffing(&task.task_id).await?;
        let [only] = staffing.matches.as_slice() else {
            anyhow::bail!("one match on {}: {:?}", task.task_id, staffing.matches);
        };
        assert!(
            only.volunteer_ref.starts_with("v-"),
            "{}",
            only.volunteer_ref
        );
        refs.push(only.volunteer_ref.clone());
    }
    assert_ne!(
        refs[0], refs[1],
        "the same volunteer has another pseudonym on every task"
    );
    Ok(())
}
