//! A real MQTT broker for the Kanto tests: Debian's `mosquitto`, started on a free loopback
//! port with its own configuration in a temporary directory, killed when dropped.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::need;
use crate::prometheus::free_port;

/// The broker binary (Debian puts it in /usr/sbin, not on a non-root PATH), asked through
/// [`crate::need`]: `None` after a loud, recorded skip, or a failure with
/// `BATON_TEST_STRICT=1`.
pub fn mosquitto_bin() -> Option<PathBuf> {
    need::require(
        need::tool("mosquitto")
            .or_else(|missing| need::tool("/usr/sbin/mosquitto").map_err(|_| missing)),
    )
}

/// A running broker.
pub struct Mosquitto {
    bin: PathBuf,
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Starts a broker on a free loopback port (anonymous, no persistence) and waits until
    /// it accepts connections. `None` when mosquitto is missing (see [`mosquitto_bin`]).
    pub fn start() -> Option<Mosquitto> {
        let bin = mosquitto_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("baton-mosquitto-")
            .tempdir()
            .unwrap();
        Some(Self::start_on(&bin, dir, free_port()))
    }

    fn start_on(bin: &Path, dir: tempfile::TempDir, port: u16) -> Mosquitto {
        let conf = dir.path().join("mosquitto.conf");
        let log = dir.path().join("mosquitto.log");
        let mut f = std::fs::File::create(&conf).unwrap();
        // Started as root, mosquitto drops to user `mosquitto`, which cannot write the log in
        // this private directory; a test broker keeps the tests' user.
        if need::root().is_ok() {
            writeln!(f, "user root").unwrap();
        }
        // `per_listener_settings false` + `allow_anonymous true`: a test broker; nothing
        // listens beyond loopback.
        writeln!(
            f,
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
             log_dest file {}\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\nconnection_messages true\n",
            log.display()
        )
        .unwrap();
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts");
        let m = Mosquitto {
            bin: bin.to_path_buf(),
            child,
            port,
            dir,
        };
        m.wait_ready();
        m
    }

    fn wait_ready(&self) {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "mosquitto did not listen on 127.0.0.1:{} within 10 s; log:\n{}",
            self.port,
            self.log()
        );
    }

    /// `tcp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// Stops the broker and starts a new one on the same port (clients must reconnect).
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Command::new(&self.bin)
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts again");
        self.wait_ready();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
