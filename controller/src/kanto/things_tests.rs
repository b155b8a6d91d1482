//! The Ditto envelopes of things mode, against messages written from Kanto's feature code and
//! the Ditto protocol (topics, paths, headers, replies).

use serde_json::json;

use super::*;
use crate::kanto::wire::{ConsentCommand, ConsentStatus, Status};

fn thing() -> ThingId {
    ThingId::parse("org.acme:car-7").unwrap()
}

fn inbox(op: &str, value: serde_json::Value, headers: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "topic": format!("org.acme/car-7/things/live/messages/{op}"),
        "headers": headers,
        "path": format!("/features/UpdateManager/inbox/messages/{op}"),
        "value": value}))
    .unwrap()
}

#[test]
fn thing_ids() {
    assert_eq!(thing().namespace, "org.acme");
    assert_eq!(thing().name, "car-7");
    for bad in ["", "nocolon", ":x", "x:", "a/b:c"] {
        assert!(ThingId::parse(bad).is_none(), "{bad}");
    }
    let e: EdgeConfiguration = serde_json::from_str(
        r#"{"deviceId":"org.acme:car-7","tenantId":"t","policyId":"p","x":1}"#,
    )
    .unwrap();
    assert_eq!(e.device_id, "org.acme:car-7");
}

#[test]
fn apply_refresh_and_consent_are_read_from_the_inbox() {
    let m = inbox(
        "apply",
        json!({"activityId":"a1","timestamp":7,"desiredState":{"domains":[{"id":"rtos"}]}}),
        json!({"correlation-id":"c1","response-required":true}),
    );
    let i = read_inbox("r1", &m, &thing()).unwrap().unwrap();
    let Request::Apply(Ok(a)) = &i.request else {
        panic!("{i:?}")
    };
    assert_eq!(a.activity_id, "a1");
    assert_eq!(a.desired_state.as_ref().unwrap().domains[0].id, "rtos");
    assert!(i.envelope.response_required());
    assert_eq!(i.envelope.correlation_id(), Some("c1"));

    let m = inbox("apply", json!({"activityId":"a1"}), json!({}));
    let i = read_inbox("r1", &m, &thing()).unwrap().unwrap();
    assert_eq!(
        i.request,
        Request::Apply(Err("desired state is missing".into()))
    );

    let m = inbox("refresh", json!({"activityId":"r"}), json!({}));
    assert!(matches!(
        read_inbox("r2", &m, &thing()).unwrap().unwrap().request,
        Request::Refresh(Ok(_))
    ));

    let m = inbox(
        "consent",
        json!({"activityId":"a1","timestamp":1,"ownerConsentFeedback":{"status":"DENIED"}}),
        json!({"correlation-id":"q"}),
    );
    let Request::Consent(Ok(c)) = read_inbox("r3", &m, &thing()).unwrap().unwrap().request else {
        panic!()
    };
    assert_eq!(c.owner_consent_feedback.status, ConsentStatus::Denied);
}

#[test]
fn other_things_features_and_operations_are_skipped_and_garbage_is_an_error() {
    let other = serde_json::to_vec(&json!({"topic":"org.acme/car-8/things/live/messages/apply",
        "path":"/features/UpdateManager/inbox/messages/apply","value":{}}))
    .unwrap();
    assert_eq!(read_inbox("r", &other, &thing()).unwrap(), None);
    let feature = serde_json::to_vec(&json!({"topic":"org.acme/car-7/things/live/messages/apply",
        "path":"/features/Other/inbox/messages/apply","value":{}}))
    .unwrap();
    assert_eq!(read_inbox("r", &feature, &thing()).unwrap(), None);
    let op = inbox("reboot", json!({}), json!({}));
    assert_eq!(read_inbox("r", &op, &thing()).unwrap(), None);
    assert!(read_inbox("r", b"garbage", &thing()).is_err());
    assert!(read_inbox("r", b"{\"path\":1}", &thing()).is_err());
    let m = inbox(
        "apply",
        json!({"activityId":5,"desiredState":{}}),
        json!({}),
    );
    assert!(matches!(
        read_inbox("r", &m, &thing()).unwrap().unwrap().request,
        Request::Apply(Err(_))
    ));
}

#[test]
fn replies_are_204_or_400_and_only_when_asked() {
    let m = inbox(
        "apply",
        json!({"activityId":"a"}),
        json!({"correlation-id":"c1","response-required":"true"}),
    );
    let i = read_inbox("r1", &m, &thing()).unwrap().unwrap();
    let (status, env) = reply(&thing(), &i, None).unwrap();
    assert_eq!(status, 204);
    assert_eq!(
        serde_json::to_value(&env).unwrap(),
        json!({"topic":"org.acme/car-7/things/live/messages/apply",
               "headers":{"correlation-id":"c1","response-required":false},
               "path":"/features/UpdateManager/outbox/messages/apply","status":204})
    );
    let (status, env) = reply(&thing(), &i, Some("desired state is missing")).unwrap();
    assert_eq!(status, 400);
    assert_eq!(
        env.value,
        Some(
            json!({"error":"messages:parameter.invalid","status":400,"message":"desired state is missing"})
        )
    );
    let quiet = inbox("apply", json!({}), json!({"response-required":false}));
    let i = read_inbox("r1", &quiet, &thing()).unwrap().unwrap();
    assert!(reply(&thing(), &i, Some("x")).is_none());
}

#[test]
fn outgoing_feature_properties_feedback_and_consent() {
    let t = thing();
    assert_eq!(
        serde_json::to_value(feature(&t, "device")).unwrap(),
        json!({"topic":"org.acme/car-7/things/twin/commands/modify","headers":{"response-required":false},
               "path":"/features/UpdateManager",
               "value":{"definition":["com.bosch.iot.suite.edge.update:UpdateManager:1.0.0"],"properties":{"domain":"device"}}})
    );
    let p = properties(&t, "", 5, "device", &Inventory::default());
    assert_eq!(p.path, "/features/UpdateManager/properties");
    assert_eq!(
        p.value,
        Some(json!({"activityId":"","timestamp":5,"domain":"device","inventory":{}}))
    );
    let f = feedback(
        &t,
        "a1",
        6,
        &DesiredStateFeedback::new(Status::Completed, "", vec![]),
    );
    assert_eq!(f.topic, "org.acme/car-7/things/live/messages/feedback");
    assert_eq!(f.path, "/features/UpdateManager/outbox/messages/feedback");
    assert_eq!(
        f.value,
        Some(
            json!({"activityId":"a1","timestamp":6,"desiredStateFeedback":{"status":"COMPLETED"}})
        )
    );
    let c = consent(
        &t,
        "a1",
        7,
        &OwnerConsent {
            command: ConsentCommand::Download,
        },
        "q-1",
    );
    assert!(c.response_required());
    assert_eq!(c.correlation_id(), Some("q-1"));
    assert_eq!(
        c.value,
        Some(json!({"activityId":"a1","timestamp":7,"ownerConsent":{"command":"DOWNLOAD"}}))
    );
}
