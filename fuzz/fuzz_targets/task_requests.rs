//! Arbitrary bytes as TaskService requests, through the task validators: `incident_spec`
//! (CreateIncident), typed ids (`Violations::id`) and `task_spec` (CreateTask, UpdateTask), `paging` and
//! `convert::task_status_from` (ListTasks).
#![no_main]

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use prost::Message;
use spontan_platform::error::Violations;
use spontan_platform::ids::{IncidentId, TaskId};
use spontan_proto::v1::*;
use spontan_task::{convert, paging, validation};
use uuid::Uuid;

fuzz_target!(|data: &[u8]| {
    let now = Utc::now();
    if let Ok(request) = CreateIncidentRequest::decode(data) {
        let mut v = Violations::new();
        v.id::<Uuid>("idempotency_key", &request.idempotency_key);
        let spec = validation::incident_spec(&mut v, &request);
        if v.is_empty() {
            assert!(spec.region_radius_km.is_finite());
        }
        spontan_fuzz::check(v);
    }
    if let Ok(request) = CreateTaskRequest::decode(data) {
        let mut v = Violations::new();
        v.id::<IncidentId>("incident_id", &request.incident_id);
        let spec = validation::task_spec(&mut v, "", (&request).into(), Some(now));
        if v.is_empty() {
            assert!(spec.window.start < spec.window.end);
            assert!(spec.meeting_point.latitude.is_finite());
        }
        spontan_fuzz::check(v);
    }
    if let Ok(request) = UpdateTaskRequest::decode(data) {
        let task = request.task.unwrap_or_default();
        let mut v = Violations::new();
        v.id::<TaskId>("task.task_id", &task.task_id);
        validation::task_spec(&mut v, "task.", (&task).into(), None);
        spontan_fuzz::check(v);
    }
    if let Ok(request) = ListTasksRequest::decode(data) {
        let mut v = Violations::new();
        for s in &request.statuses {
            let _ = convert::task_status_from(*s);
        }
        let size = paging::page_size(&mut v, request.page_size, 50, 200);
        assert!((1..=200).contains(&size));
        let _: Option<(i16, DateTime<Utc>, Uuid)> =
            paging::decode(&mut v, &request.incident_id, &request.page_token);
        spontan_fuzz::check(v);
    }
});
