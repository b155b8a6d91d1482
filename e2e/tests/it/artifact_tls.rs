//! TLS for every HTTPS client baton has (the URL source, the Mender Server and its links):
//! `ServerCertificate` trusted in addition to the system's roots, `HttpsClient` presented as
//! the client certificate, and what baton cannot honour refused at start.

use std::path::Path;

use crate::mender_server_resolver::{artifact, bus, fast, locator, resolver, source};
use baton::artifact::source::{ClientCertificate, HttpOptions, Resolver, SourceSpec};
use baton::artifact::{Limits, VerifyPolicy};
use baton::metrics::Metrics;
use baton::model::ComponentType;
use e2e::dbus::{AuthScript, FakeAuth};
use e2e::fixture::{ServerStage, SERVER_V1};
use e2e::mender_server::FakeServer;
use e2e::need;

/// A CA, and by it a server certificate for 127.0.0.1 and a client certificate (openssl).
fn pki(dir: &Path, ca: &str) {
    let openssl = |args: &[&str]| {
        e2e::ok(
            std::process::Command::new("openssl")
                .current_dir(dir)
                .args(args),
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}-key.pem"));
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-days",
                "2",
                "-subj",
                &format!("/CN={ca}"),
                "-keyout",
                &ca_key,
                "-out",
                &ca_pem,
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("server.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("client.cnf"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    for who in ["server", "client"] {
        let (key, csr, pem, cnf) = (
            format!("{ca}-{who}-key.pem"),
            format!("{ca}-{who}.csr"),
            format!("{ca}-{who}.pem"),
            format!("{who}.cnf"),
        );
        openssl(
            &[
                &["req"][..],
                &ec,
                &[
                    "-subj",
                    &format!("/CN={who}"),
                    "-keyout",
                    &key,
                    "-out",
                    &csr,
                ],
            ]
            .concat(),
        );
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &cnf,
            "-out",
            &pem,
        ]);
    }
}

#[test]
fn the_server_certificate_is_trusted_and_the_client_certificate_presented_by_every_source() {
    if !need::have(need::tool("openssl")) {
        return;
    }
    let Some(bus) = bus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    pki(dir.path(), "ca");
    let server = FakeServer::start_tls(
        &p("ca-server.pem"),
        &p("ca-server-key.pem"),
        Some(&p("ca.pem")),
    );
    server.upload(artifact("mcu-v2", &["mcu"], 3000));
    let _auth = FakeAuth::start(
        bus.address(),
        AuthScript {
            current: (server.issue_token(), server.url()),
            on_fetch: vec![],
        },
    );
    let ct = ComponentType::new("mcu").unwrap();
    let with = |server_certificate: bool, client: bool| HttpOptions {
        server_certificate: server_certificate.then(|| p("ca.pem")),
        client_certificate: client.then(|| ClientCertificate {
            certificate: p("ca-client.pem"),
            key: p("ca-client-key.pem"),
        }),
        retries: 0,
        ..fast()
    };
    let staging = p("staging");
    let url = SourceSpec::Url {
        template: format!("{}/static/{{artifact_name}}.mender", server.url()),
    };
    let both = |http: HttpOptions| {
        let by_server = resolver(
            vec![source(&bus)],
            &staging,
            http.clone(),
            None,
            &Metrics::default(),
        )
        .resolve(&locator("mcu-v2", &ct, &[]));
        let by_url = Resolver::new(
            vec![url.clone()],
            VerifyPolicy::none(),
            Limits::default(),
            http,
            &staging,
            None,
            Metrics::default(),
        )
        .unwrap()
        .resolve(&locator("mcu-v2", &ct, &[]));
        (by_server, by_url)
    };
    // The system roots alone do not know the private CA.
    let (s, u) = both(with(false, true));
    let s = s.unwrap_err().to_string();
    assert!(s.contains("server unreachable"), "{s}");
    assert_eq!(u.unwrap_err().reason(), "http");
    // The CA trusted, but no client certificate: the server refuses the handshake.
    let before = server.seen().len();
    let (s, u) = both(with(true, false));
    assert!(s.is_err() && u.is_err());
    assert_eq!(server.seen().len(), before, "no request got through");
    // Both: the API, the link and the URL source all present the certificate.
    let (s, u) = both(with(true, true));
    assert_eq!(s.unwrap()[0].header.name, "mcu-v2");
    assert_eq!(u.unwrap()[0].header.name, "mcu-v2");
    let seen = server.seen();
    for prefix in [
        "/api/devices/v1/deployments/artifacts",
        "/links/",
        "/static/",
    ] {
        assert!(
            seen.iter()
                .any(|s| s.path.starts_with(prefix) && s.status == 200),
            "{prefix}: {seen:?}"
        );
    }
}

#[test]
fn the_server_certificate_adds_to_the_system_roots() {
    if !need::have(need::tool("openssl")) {
        return;
    }
    let Some(stage) = ServerStage::new() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    // Two servers, two CAs: one in the "system" store (SSL_CERT_FILE), one given as
    // ServerCertificate. Each holds one component type's Artifact.
    pki(dir.path(), "system");
    pki(dir.path(), "private");
    let public = FakeServer::start_tls(&p("system-server.pem"), &p("system-server-key.pem"), None);
    let private =
        FakeServer::start_tls(&p("private-server.pem"), &p("private-server-key.pem"), None);
    for (server, ctype, name) in [
        (&public, "gateway", "gateway-v1"),
        (&private, "rtos", "rtos-v1"),
    ] {
        stage.upload_to(server, ctype, name);
    }
    stage.configure(serde_json::json!({
            "ServerCertificate": p("private.pem"),
            "ArtifactSources": [
                {"Type": "url", "Template": format!("{}/static/{{artifact_name}}.mender", public.url())},
                {"Type": "url", "Template": format!("{}/static/{{artifact_name}}.mender", private.url())},
            ],
    }));
    let manifest = stage.system.manifest("sys-v1", SERVER_V1);
    let out = e2e::run(
        stage
            .system
            .baton_from_env()
            .env("SSL_CERT_FILE", p("system.pem"))
            .env_remove("SSL_CERT_DIR")
            .arg("install")
            .arg(&manifest),
    );
    assert_eq!(out.status.code(), Some(0), "{}", e2e::stderr(&out));
    assert_eq!(stage.system.version("GW1"), "gateway-v1");
    assert_eq!(stage.system.version("RT2"), "rtos-v1");
}

#[test]
fn what_https_client_cannot_honour_is_refused_at_start() {
    let Some(stage) = ServerStage::new() else {
        return;
    };
    let manifest = stage.system.manifest("sys-v1", SERVER_V1);
    for (https_client, words) in [
        (
            serde_json::json!({"Certificate": "/c.pem", "Key": "/k.pem", "SSLEngine": "pkcs11"}),
            "HttpsClient.SSLEngine",
        ),
        (
            serde_json::json!({"Certificate": "/c.pem", "Key": "pkcs11:object=k"}),
            "PKCS#11",
        ),
        (
            serde_json::json!({"Certificate": "/c.pem"}),
            "HttpsClient.Key is not",
        ),
        (
            serde_json::json!({"Certificate": "/nonexistent/c.pem", "Key": "/nonexistent/k.pem"}),
            "/nonexistent/c.pem",
        ),
    ] {
        stage.configure(serde_json::json!({ "HttpsClient": https_client }));
        let out = e2e::run(stage.system.baton_from_env().arg("install").arg(&manifest));
        let text = e2e::stderr(&out);
        assert_ne!(out.status.code(), Some(0), "{text}");
        assert!(text.contains(words), "{words:?} missing from:\n{text}");
        stage.assert_untouched();
    }
}
