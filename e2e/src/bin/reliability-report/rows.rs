//! The table's rows: each fault or input class, the tests that check it, and what they show
//! baton does. A test is `<package>:<module>:<path>`: `<module>` is `lib` for a unit test
//! (`<path>` its module path and name), else the module of the package's integration test
//! binary `it` that holds it (one former test file).

/// One row: a fault or input class, the tests that check it, what they show baton does.
pub struct Row {
    pub class: &'static str,
    /// reliability.md §9 rows this covers.
    pub refs: &'static str,
    /// `package:module:test`, see the module's documentation.
    pub tests: &'static [&'static str],
    pub did: &'static str,
}

pub const ROWS: &[Row] = &[
    Row {
        class: "Crash (SIGKILL) at every fault point of a deployment",
        refs: "1, 2, 3",
        tests: &[
            "e2e:reliability_crash:a_crash_at_every_fault_point_settles_all_old_or_all_new",
            "e2e:engine_crash:a_kill_in_any_forward_state_of_any_group",
            "e2e:engine_crash:a_kill_in_a_query_asks_again",
            "e2e:engine_crash:a_kill_after_the_commit_decision_rolls_forward",
            "e2e:engine_crash:a_kill_during_rollback",
            "baton:lib:engine::machine_tests::a_crash_at_any_step_ends_all_new_or_all_old",
            "baton:lib:engine::machine_tests::a_crash_in_install_rolls_back_and_after_the_commit_decision_rolls_forward",
            "baton:lib:engine::machine_tests::the_host_reboot_counts_only_if_the_boot_id_changed_or_the_caller_vouches",
            "baton:lib:engine::driver_tests::a_restart_with_the_same_boot_id_after_a_reboot_request_rolls_back",
            "baton:lib:engine::driver_tests::a_resume_does_not_vouch_for_a_reboot_baton_itself_never_made",
            "baton:lib:engine::store::tests::an_interrupted_promotion_finishes_when_repeated",
            "baton:lib:engine::sweep::tests::only_the_live_deployment_keeps_its_files",
        ],
        did: "Restarted (`baton resume`, at most 6 times) it settled every time: rolled back \
              before the commit decision, rolled forward after it, a host reboot counted only \
              when the boot id changed; every component old or new as the report said; a legal \
              Interface call sequence; no stray file or process; the next deployment succeeded.",
    },
    Row {
        class: "Crash loop: a component that kills baton in every state",
        refs: "4",
        tests: &["e2e:engine_crash:a_component_that_kills_baton_in_every_state_ends_in_a_reported_failure"],
        did: "Gave up on the step after 3 attempts, rolled back, reported the failure; no endless loop.",
    },
    Row {
        class: "Power loss: the order of syncs and renames",
        refs: "5",
        tests: &[
            "e2e:reliability_powerloss:every_commit_is_synced_before_it_is_renamed_and_its_directory_after",
            "e2e:reliability_powerloss:the_checker_finds_a_missing_sync",
        ],
        did: "Under strace: every journal record and Manifest store file fsynced before its \
              rename and its directory after, before the next Interface call; each Download \
              step's File API trees made durable by a syncfs before its outcome was journaled.",
    },
    Row {
        class: "Journal truncated, bit-flipped, from a future format, both generations broken",
        refs: "6",
        tests: &[
            "e2e:reliability_journal:a_truncated_or_flipped_current_record_falls_back_to_the_previous_generation",
            "e2e:reliability_journal:both_generations_damaged_is_a_clear_error_and_reset_recovers",
            "e2e:reliability_journal:a_resume_from_the_previous_generation_settles_the_deployment",
            "baton:lib:engine::journal::tests::a_torn_current_record_falls_back_to_the_previous_generation",
            "baton:lib:engine::journal::tests::bit_flips_are_detected",
            "baton:lib:engine::journal::tests::both_generations_broken_is_a_clear_error_and_reset_moves_them_aside",
        ],
        did: "Used the previous generation, never a damaged record, never a panic; with both \
              broken, refused to act with an error naming `baton journal reset`, called no \
              Interface, and started again after the reset.",
    },
    Row {
        class: "Two batons on one datastore",
        refs: "8",
        tests: &[
            "baton:lib:durable::lock::tests::a_second_holder_gets_a_clear_error",
            "e2e:controller_run:one_controller_per_datastore_and_sigterm_stops_it_cleanly",
        ],
        did: "The second one stopped at once with the first one's pid in the message.",
    },
    Row {
        class: "Disk full (download, journal write), read-only datastore",
        refs: "9",
        tests: &[
            "e2e:reliability_resources:the_disk_fills_up_during_a_download",
            "e2e:reliability_resources:the_disk_fills_up_during_a_journal_write",
            "e2e:reliability_resources:a_read_only_datastore_is_a_clear_error_and_nothing_is_touched",
        ],
        did: "In a private mount namespace: rolled back with 'No space left' and the component \
              named, or stopped with a clear journal error keeping the last whole record; left \
              nothing partial; succeeded once space was back; on a read-only datastore every \
              verb failed naming it, calling no Interface.",
    },
    Row {
        class: "Interfaces that hang, ignore SIGTERM, leave a grandchild, flood, answer garbage, die, are missing",
        refs: "14, 15",
        tests: &[
            "e2e:reliability_interfaces:a_hanging_interface_times_out_and_its_whole_group_is_killed",
            "e2e:reliability_interfaces:a_grandchild_holding_the_pipes_does_not_hold_up_the_deployment",
            "e2e:reliability_interfaces:floods_and_garbage_are_capped_and_bad_answers_refused",
            "e2e:reliability_interfaces:an_interface_that_dies_of_a_signal_fails_its_state",
            "e2e:reliability_interfaces:a_missing_or_non_executable_interface_is_refused_before_any_download",
            "baton:interface_runner:a_timeout_ends_the_whole_group_grandchildren_included",
            "baton:interface_runner:sigterm_ignored_means_sigkill_after_the_grace_period",
            "baton:interface_runner:a_grandchild_holding_stdout_does_not_hang_the_call",
            "baton:interface_runner:exit_codes_and_signals_are_errors_with_the_stderr_tail",
            "baton:interface_runner:bad_answers_name_the_interface_the_query_and_the_output",
            "baton:interface_runner:missing_and_non_executable_interfaces_are_named",
            "baton:interface_flood:a_flood_is_capped_drained_and_counted",
        ],
        did: "Killed the Interface's whole process group (SIGTERM, SIGKILL after the grace) and \
              rolled back naming component, state and cause; kept 64 KiB of a 10 MiB flood; \
              refused non-UTF-8, two-line and unknown answers; refused a missing or \
              non-executable Interface before any Download; left no process.",
    },
    Row {
        class: "Corrupted or truncated Artifacts",
        refs: "10",
        tests: &[
            "e2e:reliability_artifacts:a_corrupted_or_truncated_artifact_is_refused_before_any_state",
            "e2e:reliability_artifacts:a_corrupted_artifact_of_the_first_group_fails_its_download_and_installs_nothing",
            "baton:lib:artifact::reader_tests::every_flipped_byte_is_rejected",
            "baton:lib:artifact::reader_tests::a_flip_in_each_member_is_rejected",
            "baton:lib:artifact::reader_tests::truncation_anywhere_is_rejected",
            "baton:lib:engine::bundle::tests::a_corrupted_payload_is_found_and_a_skipped_type_is_not_read",
        ],
        did: "No component ever reached ArtifactInstall with one: an Artifact of a later order \
              group was read to its end and refused before any state of any component; one of \
              the first group failed its own Download (verified as it streamed, every Download \
              of the group ending before any install), and the System was cleaned up untouched.",
    },
    Row {
        class: "Signature policy",
        refs: "11",
        tests: &[
            "e2e:reliability_artifacts:the_signature_policy_is_enforced_on_every_artifact",
            "baton:lib:artifact::reader_tests::signature_policy_is_enforced",
            "e2e:artifact_agreement:verdicts_match_mender_artifact_on_what_it_writes",
        ],
        did: "With keys: refused unsigned, wrong-key and transplanted-signature Artifacts, \
              accepted either of two keys; a missing, corrupt or private key file made every \
              verb fail closed; verdicts agree with mender-artifact's.",
    },
    Row {
        class: "Mix-and-match Manifests",
        refs: "12",
        tests: &["e2e:reliability_manifests:mix_and_match_is_refused"],
        did: "Refused, touching nothing: a header name not the Manifest's, another type's \
              Artifact, unmet depends, another System type, unknown, missing or duplicate \
              component types.",
    },
    Row {
        class: "Rollback and replay of old Manifests (DowngradeProtection)",
        refs: "12",
        tests: &[
            "e2e:reliability_manifests:old_manifests_are_refused_under_downgrade_protection_and_own_rollbacks_are_not",
            "baton:lib:engine::downgrade::tests::what_counts_as_older",
            "baton:lib:engine::downgrade::tests::a_rollback_keeps_the_high_water_mark",
            "baton:lib:engine::downgrade::tests::the_ledger_compacts_and_forgets_nothing",
            "baton:lib:engine::accepted::tests::saved_ledgers_load_and_a_broken_one_is_an_error",
        ],
        did: "Refused a replayed Manifest and an old component Artifact under a new name; let \
              through the current Manifest, a failed deployment's own rollback and an explicit \
              --allow-downgrade, keeping the high-water mark; failed closed on an unreadable \
              ledger.",
    },
    Row {
        class: "Partial bundle",
        refs: "13",
        tests: &["e2e:reliability_artifacts:a_partial_bundle_is_never_partly_installed"],
        did: "A missing Artifact: refused, nothing touched. A failure in Download, Install, \
              VerifyReboot or Commit of one component: every touched component rolled back in \
              reverse order, the failing one named. The Artifact gone across a host reboot: a \
              clean rollback.",
    },
    Row {
        class: "Oversized inputs (endless data)",
        refs: "16",
        tests: &[
            "e2e:reliability_manifests:oversized_manifests_are_refused_without_being_read",
            "baton:resource_hostile:a_50_mib_file_is_refused_without_being_read",
            "baton:lib:artifact::reader_tests::a_decompression_bomb_stops_at_the_cap",
            "baton:daemon_api:bodies_over_the_limit_and_slow_clients_are_cut_off",
        ],
        did: "Stopped reading at 1 MiB (a 50 MiB file, an endless FIFO, an API body: 413), \
              refused 10 000 component types, stopped a decompression bomb at its cap.",
    },
    Row {
        class: "YAML parser attacks",
        refs: "17",
        tests: &[
            "e2e:reliability_manifests:yaml_attacks_are_refused_by_the_binary",
            "baton:resource_hostile:an_alias_bomb_is_refused",
            "baton:resource_hostile:ten_thousand_levels_of_nesting_are_refused",
            "baton:resource_hostile:two_documents_are_refused",
            "baton:resource_hostile:duplicate_keys_are_refused",
            "baton:resource_hostile:invalid_utf8_is_refused",
            "baton:resource_hostile:application_tags_are_refused",
            "baton:resource_hostile:arbitrary_input_never_panics",
            "baton:resource_hostile:yaml_like_input_never_panics",
        ],
        did: "Refused billion laughs, 100 000-deep nesting, several documents, duplicate keys, \
              application tags and invalid UTF-8 with a located error; never panicked.",
    },
    Row {
        class: "Tar and path traversal",
        refs: "18",
        tests: &[
            "e2e:reliability_artifacts:tar_traversal_and_special_entries_are_refused_and_nothing_lands_outside",
            "baton:lib:artifact::reader_tests::hostile_data_tar_entries_are_rejected",
            "baton:lib:artifact::reader_tests::hostile_outer_members_are_rejected_before_the_payload",
            "baton:lib:artifact::reader_tests::members_out_of_order_or_duplicated_are_rejected",
            "baton:lib:interface::file_api::fsx::tests::existing_names_and_symlinks_are_refused",
        ],
        did: "Refused `..`, absolute, NUL and 5 000-byte names, links, devices, FIFOs, setuid \
              files, PAX/ustar size disagreement, members out of order; created nothing \
              outside the datastore.",
    },
    Row {
        class: "Fuzzing the Manifest reader and the Artifact reader (time-boxed)",
        refs: "17, 10",
        tests: &[
            "e2e:reliability_fuzz:the_manifest_and_topology_reader_never_panics",
            "e2e:reliability_fuzz:the_artifact_reader_never_panics",
        ],
        did: "Accepted or refused every mutated input; never panicked (a panicking input would \
              be kept in controller/tests/fuzz_corpus/).",
    },
    Row {
        class: "Watched-directory races and tricks",
        refs: "19",
        tests: &[
            "e2e:reliability_daemon:the_watched_directory_survives_races_and_tricks",
            "e2e:reliability_daemon:an_artifact_rewritten_during_the_deployment_never_installs_unverified_bytes",
            "baton:daemon_watch:a_burst_of_files_ends_with_the_newest_as_the_desired_state",
            "baton:daemon_watch:dropped_files_become_desired_or_are_rejected_with_a_reason",
            "baton:lib:daemon::sources::watch_dir::names::tests::temporary_names_and_dotfiles_are_ignored",
        ],
        did: "Read a slowly written file once, whole; made 1 000 identical files one deployment; \
              refused symlinks, hard links and FIFOs without echoing content; an Artifact \
              overwritten in place never delivered bytes of no verified Artifact.",
    },
    Row {
        class: "API exposure and authentication",
        refs: "20",
        tests: &[
            "e2e:reliability_daemon:the_api_is_local_by_default_and_authenticated_over_tcp",
            "baton:daemon_api:tcp_needs_loopback_and_a_token_of_the_right_scope",
            "baton:lib:daemon::api::guard::tests::hosts",
            "baton:lib:daemon::api::security::route_by_transport_by_token",
            "baton:lib:daemon::api::security::host_scheme_and_length",
            "baton:lib:daemon::api::listen::tests::only_loopback_tcp",
        ],
        did: "By default a 0660 Unix socket and no TCP listener; over TCP 401 without the token, \
              403 for a foreign Host (DNS rebinding); refused to start on a non-loopback address.",
    },
    Row {
        class: "API denial of service: 10 000 concurrent requests, slowloris, slow bodies",
        refs: "21",
        tests: &["e2e:reliability_daemon:ten_thousand_concurrent_requests_and_slowloris_leave_it_responsive"],
        did: "Answered every request, made one deployment of the 5 000 identical PUTs, kept \
              memory bounded; cut off 200 slowloris clients within the header timeout while \
              answering others at once; 408 for a body that never came.",
    },
    Row {
        class: "Slow, short, oversized and endless downloads",
        refs: "22",
        tests: &[
            "e2e:reliability_download:slow_short_long_and_endless_downloads_end_within_bounds",
            "e2e:reliability_download:a_deployment_from_a_bad_server_is_refused_and_leaves_no_download",
            "e2e:artifact_sources:urls_download_resume_retry_and_refuse",
            "baton:lib:artifact::source::rate::tests::a_window_short_of_bytes_fails",
        ],
        did: "Broke off a trickle below the minimum rate, a stall, a short body, an endless \
              body (size cap), a redirect loop, each within bounds with bounded retries; \
              stopped at the announced length; left no partial file or download.",
    },
    Row {
        class: "Signed Manifests through the watched directory and the API",
        refs: "11, 12",
        tests: &[
            "e2e:reliability_daemon:signed_manifests_are_required_from_the_directory_and_the_api",
            "baton:lib:signed_manifest::tests::the_policy_table",
            "baton:lib:daemon::sources::watch_dir::sidecar::tests::a_signature_is_read_and_moved_along_and_a_symlink_is_refused",
            "baton:lib:config::tests::signed_manifests_need_a_key_to_check_them_with",
        ],
        did: "With RequireSignedManifests: refused unsigned and wrong-key Manifests from the \
              directory, the API and `baton apply`, took ones signed with openssl as \
              documented; refused to start, or to load the option, without a usable key.",
    },
    Row {
        class: "The crash hook in a release build",
        refs: "1",
        tests: &["e2e:reliability_release:a_release_build_has_no_fault_points"],
        did: "Built with the feature on, the release binary holds none of the hook's texts and \
              ignores BATON_FAULT; the debug binary (the control) has and obeys them.",
    },
];
