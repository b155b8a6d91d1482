//! The status page in a real browser (Debian's headless Chromium over the DevTools
//! protocol): `baton run` on a System of mock components with loopback TCP, the page opened
//! at the URL `baton ui-url` prints. Screenshots go to `target/ui-screenshots/`.

use std::time::Duration;

use e2e::browser::{screenshot_dir, Browser};
use e2e::fixture::*;
use serde_json::json;

/// Adds loopback TCP on a port the kernel picks, with a write and a read token.
fn with_tcp(sys: &System) {
    use std::os::unix::fs::PermissionsExt;
    let root = sys.root();
    for (name, token) in [
        ("write.token", "e2e-write-token-0123456789"),
        ("read.token", "e2e-read-token-0123456789"),
    ] {
        std::fs::write(root.join(name), token).unwrap();
        std::fs::set_permissions(root.join(name), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    sys.configure(json!({"Api": {
        "Socket": sys.socket(),
        "Tcp": "127.0.0.1:0",
        "TokenFile": root.join("write.token"),
        "ReadTokenFile": root.join("read.token"),
    }}));
}

/// `baton ui-url [--write]`: the URL it prints.
fn ui_url(sys: &System, write: bool) -> String {
    let mut c = sys.baton();
    c.arg("ui-url");
    if write {
        c.arg("--write");
    }
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", e2e::stderr(&out));
    let url = e2e::stdout(&out).trim().to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.contains("/ui/login?code="),
        "{url}"
    );
    url
}

/// `http://127.0.0.1:PORT` of a URL.
fn origin(url: &str) -> String {
    url.split("/ui/").next().unwrap().to_string()
}

const READY_TRUE: &str =
    "document.querySelector('#conditions tr[data-type=Ready]')?.dataset.status === 'True'";

#[test]
fn the_page_follows_a_deployment_live_to_ready_and_a_read_session_cannot_act() {
    let Some(sys) = System::served(json!({})) else {
        return;
    };
    let Some(mut b) = Browser::launch() else {
        return;
    };
    with_tcp(&sys);
    // ArtifactInstall takes 3 s on the first component: the page opens mid-deployment.
    std::fs::write(sys.state_dir("a").join("slow"), "3").unwrap();
    let d = sys.start();
    sys.drop_manifest("v2.yaml", &sys.release_text("sys-v2", "v2"));
    d.until("deploying", |s| s["deployment"]["manifest"] == "sys-v2");

    b.navigate(&ui_url(&sys, false));
    assert!(
        b.wait_for(
            "document.querySelector('#deployment-body [data-deployment]') && \
             document.querySelectorAll('#deployment-body tr[data-component]').length === 2",
            Duration::from_secs(20)
        ),
        "the deployment in flight, with its components: {}",
        b.text()
    );
    let dir = screenshot_dir();
    b.screenshot(&dir.join("deploying.png"));
    let text = b.text();
    assert!(
        text.contains("Order group 1") && text.contains("Order group 2"),
        "{text}"
    );

    // Live: the page reaches Ready by the event stream, without a reload.
    assert!(
        b.wait_for(
            &format!(
                "{READY_TRUE} && !document.querySelector('#deployment-body [data-deployment]')"
            ),
            Duration::from_secs(60)
        ),
        "Ready at the end: {}",
        b.text()
    );
    assert_eq!(
        b.eval("performance.getEntriesByType('navigation').length"),
        json!(1)
    );
    for c in &sys.components {
        let (ctype, id) = (c.component_type.as_str(), c.id.as_str());
        let row = b.eval(&format!(
            "[...document.querySelectorAll('#components tr[data-component=\"{ctype}/{id}\"] th, #components tr[data-component=\"{ctype}/{id}\"] td')].map(c => c.textContent)"
        ));
        assert_eq!(
            row,
            json!([
                ctype,
                id,
                format!("{ctype}-v2"),
                format!("{ctype}-v2"),
                "yes"
            ]),
            "{id}"
        );
    }
    assert_eq!(
        b.eval("document.querySelector('#history tbody tr')?.dataset.outcome"),
        json!("Succeeded")
    );
    b.screenshot(&dir.join("ready.png"));

    // A read session: no approve button, no actions, and the API refuses its changes.
    assert_eq!(
        b.eval("document.querySelector('button.approve, button.deny, [data-action]') === null"),
        json!(true)
    );
    assert_eq!(
        b.eval("document.getElementById('actions').hidden"),
        json!(true)
    );
    let post = |b: &mut Browser, path: &str| {
        b.eval(&format!(
            "fetch('/ui/session').then(r => r.json()).then(s => fetch('{path}', {{method: 'POST', \
             headers: {{'X-Baton-CSRF': s.csrf || '', 'Content-Type': 'application/json'}}, \
             body: '{{\"answer\": \"approve\"}}'}})).then(r => r.status)"
        ))
    };
    assert_eq!(post(&mut b, "/v1/consent"), json!(403));
    assert_eq!(post(&mut b, "/v1/actions/suspend"), json!(403));
    assert_eq!(d.status()["suspended"], false);

    // On a phone: one column, nothing wider than the screen.
    b.viewport(390, 844, true);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        b.eval("document.documentElement.scrollWidth <= 391"),
        json!(true),
        "the page is wider than a phone"
    );
    b.screenshot(&dir.join("phone.png"));
    eprintln!("screenshots: {}", dir.display());

    // baton goes away: the page says so and marks what it shows as out of date.
    drop(d);
    assert!(
        b.wait_for(
            "!document.getElementById('banner').hidden && document.getElementById('system').classList.contains('stale')",
            Duration::from_secs(20)
        ),
        "a banner when baton does not answer: {}",
        b.text()
    );
    assert!(b.text().contains("does not answer"));
    b.screenshot(&dir.join("unreachable.png"));
}

#[test]
fn without_a_login_the_page_shows_nothing_of_the_system_and_a_write_session_acts() {
    let Some(sys) = System::served(json!({})) else {
        return;
    };
    let Some(mut b) = Browser::launch() else {
        return;
    };
    with_tcp(&sys);
    let d = sys.start();
    sys.drop_manifest("v2.yaml", &sys.release_text("sys-v2", "v2"));
    d.until("ready", |s| ready(s) && s["observedGeneration"] == 1);
    let url = ui_url(&sys, false);

    // No session: the login hint, and nothing of the System anywhere in the page.
    b.navigate(&format!("{}/ui/", origin(&url)));
    assert!(b.wait_for(
        "document.getElementById('live').textContent === 'Not signed in'",
        Duration::from_secs(10)
    ));
    let html = b.html();
    for secret in ["RTOS-A", "GW-B", "rtos-v2", "sys-v2", "generation"] {
        assert!(
            !html.contains(secret),
            "{secret} in the page without a login:\n{html}"
        );
    }
    assert!(b.text().contains("baton ui-url"));
    b.screenshot(&screenshot_dir().join("login.png"));

    // The code works once: the second use is told so, and gets no session.
    b.navigate(&url);
    assert!(b.wait_for(READY_TRUE, Duration::from_secs(10)));
    let mut other = Browser::launch().unwrap();
    other.navigate(&url);
    assert!(other.wait_for(
        "document.getElementById('login-why').textContent.includes('already used')",
        Duration::from_secs(10)
    ));
    assert!(!other.html().contains("RTOS-A"));

    // A write session: the actions, pressed from the keyboard's point of view (buttons).
    let mut w = Browser::launch().unwrap();
    w.navigate(&ui_url(&sys, true));
    assert!(w.wait_for(
        "document.querySelector('[data-action=suspend]') !== null",
        Duration::from_secs(10)
    ));
    w.eval("document.querySelector('[data-action=suspend]').focus(); document.querySelector('[data-action=suspend]').click()");
    d.until("suspended from the page", |s| s["suspended"] == true);
    assert!(w.wait_for(
        "document.getElementById('action-result').textContent.startsWith('Suspend: suspended')",
        Duration::from_secs(10)
    ));
    assert!(
        w.wait_for(
            "document.querySelector('[data-action=unsuspend]') !== null",
            Duration::from_secs(10)
        ),
        "the page follows the change: {}",
        w.text()
    );

    // Keyboard focus survives changes elsewhere on the page (a new generation, held).
    w.eval("document.querySelector('[data-action=retry]').focus()");
    sys.drop_manifest("v3.yaml", &sys.release_text("sys-v3", "v3"));
    assert!(w.wait_for(
        "document.getElementById('desired').textContent.includes('generation 2')",
        Duration::from_secs(20)
    ));
    assert_eq!(
        w.eval("document.activeElement.dataset.action"),
        json!("retry")
    );
}
