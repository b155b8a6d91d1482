//! The wire types against messages written from Kanto's Go types (field names, `omitempty`,
//! Go's tolerance of unknown and `null` fields, its refusal of wrong JSON types).

use serde_json::json;

use super::*;

#[test]
fn a_desired_state_reads_with_config_arrays_baselines_and_unknown_fields() {
    let text = br#"{"activityId":"a1","timestamp":1700000000000,"extra":true,"payload":{
      "baselines":[{"title":"web-stack","components":["containers:web","containers:db"],"x":1}],
      "domains":[{"id":"containers","config":[{"key":"systemContainers","value":"proxy"}],
        "components":[{"id":"web","version":"1.4.0","config":[{"key":"image","value":"reg/web:1.4.0"}]},
                      {"id":"db","version":"15"}]}]}}"#;
    let env: Envelope<DesiredState> = parse("desired state", text).unwrap();
    assert_eq!(env.activity_id, "a1");
    assert_eq!(env.timestamp, 1_700_000_000_000);
    let d = &env.payload.domains[0];
    assert_eq!(d.id, "containers");
    assert_eq!(d.config_value("systemContainers"), Some("proxy"));
    assert_eq!(d.components[0].component, Component::new("web", "1.4.0"));
    assert_eq!(
        d.components[0].config[0],
        KeyValue::new("image", "reg/web:1.4.0")
    );
    assert_eq!(d.components[1].component.version, "15");
    assert_eq!(env.payload.baselines[0].components.len(), 2);
}

#[test]
fn null_and_missing_fields_are_empty_as_in_go() {
    let env: Envelope<DesiredState> = parse(
        "desired state",
        br#"{"activityId":null,"payload":{"domains":[{"id":"a","config":null,"components":null}]}}"#,
    )
    .unwrap();
    assert_eq!(env.activity_id, "");
    assert_eq!(env.timestamp, 0);
    assert!(env.payload.domains[0].components.is_empty());
    let env: Envelope<DesiredState> = parse("desired state", br#"{"payload":null}"#).unwrap();
    assert_eq!(env.payload, DesiredState::default());
    let env: Envelope<Trigger> = parse("current state get", br#"{"activityId":"x"}"#).unwrap();
    assert_eq!(env.activity_id, "x");
}

#[test]
fn wrong_types_unknown_words_and_oversized_payloads_are_refused() {
    for bad in [
        &b"not json"[..],
        br#"[1,2]"#,
        br#"{"activityId":5}"#,
        br#"{"timestamp":"soon"}"#,
        br#"{"timestamp":1.5}"#,
        br#"{"payload":{"domains":{"id":"a"}}}"#,
    ] {
        assert!(
            parse::<Envelope<DesiredState>>("desired state", bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    assert!(parse::<Envelope<DesiredStateCommand>>(
        "command",
        br#"{"payload":{"command":"REBOOT"}}"#
    )
    .is_err());
    assert!(parse::<Envelope<Option<OwnerConsentFeedback>>>(
        "consent",
        br#"{"payload":{"status":"MAYBE"}}"#
    )
    .is_err());
    assert!(parse::<Envelope<DesiredStateFeedback>>(
        "feedback",
        br#"{"payload":{"status":"SAMPLE"}}"#
    )
    .is_err());
    let huge = vec![b' '; MAX_PAYLOAD_BYTES + 1];
    assert_eq!(
        parse::<Envelope<Trigger>>("x", &huge),
        Err(WireError::TooLarge {
            size: MAX_PAYLOAD_BYTES + 1,
            max: MAX_PAYLOAD_BYTES
        })
    );
}

#[test]
fn feedback_is_written_with_go_omitempty_and_the_envelope_keys_always() {
    let fb = DesiredStateFeedback::new(
        Status::Running,
        "",
        vec![Action {
            component: Component::new("rtos:mcu-1", "rtos-v2"),
            status: ActionStatus::Downloading,
            progress: 40,
            message: String::new(),
        }],
    );
    let v = serde_json::to_value(Envelope::new("", 5, fb)).unwrap();
    assert_eq!(
        v,
        json!({"activityId":"","timestamp":5,"payload":{"status":"RUNNING","actions":[
            {"component":{"id":"rtos:mcu-1","version":"rtos-v2"},"status":"DOWNLOADING","progress":40}]}})
    );
    let v = serde_json::to_value(DesiredStateFeedback::new(
        Status::IdentificationFailed,
        "why",
        vec![],
    ))
    .unwrap();
    assert_eq!(v, json!({"status":"IDENTIFICATION_FAILED","message":"why"}));
    let v = serde_json::to_value(Envelope::new("a", 1, Trigger::default())).unwrap();
    assert_eq!(v, json!({"activityId":"a","timestamp":1,"payload":null}));
}

#[test]
fn inventory_and_consent_use_kantos_names() {
    let inv = Inventory {
        hardware_nodes: vec![HardwareNode {
            node: InventoryNode {
                id: "hw".into(),
                ..Default::default()
            },
            addressable: true,
        }],
        software_nodes: vec![SoftwareNode {
            node: InventoryNode {
                id: "baton".into(),
                version: "0.1.0".into(),
                name: "baton".into(),
                parameters: vec![KeyValue::new("domain", "device")],
            },
            kind: Some(SoftwareType::Application),
        }],
        associations: vec![Association {
            source_id: "baton".into(),
            target_id: "hw".into(),
        }],
    };
    let v = serde_json::to_value(&inv).unwrap();
    assert_eq!(
        v,
        json!({"hardwareNodes":[{"id":"hw","addressable":true}],
               "softwareNodes":[{"id":"baton","version":"0.1.0","name":"baton",
                  "parameters":[{"key":"domain","value":"device"}],"type":"APPLICATION"}],
               "associations":[{"sourceId":"baton","targetId":"hw"}]})
    );
    let back: Inventory = serde_json::from_value(v).unwrap();
    assert_eq!(back, inv);
    assert_eq!(
        serde_json::to_value(OwnerConsent {
            command: ConsentCommand::Update
        })
        .unwrap(),
        json!({"command":"UPDATE"})
    );
    let fb: Envelope<Option<OwnerConsentFeedback>> = parse(
        "consent",
        br#"{"activityId":"a1","timestamp":1,"payload":{"status":"APPROVED"}}"#,
    )
    .unwrap();
    assert_eq!(fb.payload.unwrap().status, ConsentStatus::Approved);
}

#[test]
fn activation_statuses_are_shown_to_the_backend_as_update_statuses() {
    use ActionStatus::*;
    for (from, to) in [
        (Activating, Updating),
        (ActivationSuccess, UpdateSuccess),
        (ActivationFailure, UpdateFailure),
        (Downloading, Downloading),
        (UpdateSuccess, UpdateSuccess),
        (Removing, Removing),
    ] {
        assert_eq!(from.for_backend(), to);
    }
}

#[test]
fn a_slice_for_one_domain_keeps_only_its_baseline_components() {
    let ds: DesiredState = serde_json::from_value(json!({
        "baselines":[{"title":"b1","preconditions":"p","components":["containers:web","self-update:os"]},
                     {"title":"b2","components":["self-update:os"]}],
        "domains":[{"id":"containers","components":[{"id":"web","version":"1"}]},
                   {"id":"self-update","components":[{"id":"os","version":"2"}]}]}))
    .unwrap();
    let s = ds.slice_for(&ds.domains[0]);
    assert_eq!(s.domains, vec![ds.domains[0].clone()]);
    assert_eq!(s.baselines.len(), 1);
    assert_eq!(s.baselines[0].title, "b1");
    assert_eq!(s.baselines[0].preconditions, "p");
    assert_eq!(
        s.baselines[0].components,
        vec!["containers:web".to_string()]
    );
}
