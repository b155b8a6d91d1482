//! Strict parsers for query answers.
//!
//! The rules follow Mender's C++ client where it is explicit (one line, an optional trailing
//! newline, exact words; empty output means the documented default) and the Interface protocol
//! documentation elsewhere (`Identity` is exactly `id=<ID>`; `Provides` has unique keys, no
//! `device_type` and a version key; `Inventory` repeats a key to make a list).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::Query;
use crate::model::{ComponentId, InterfaceName, NameError, Provides};

/// How much of a bad output an error quotes. Enough to recognise it, never a 10 MB flood.
pub const OUTPUT_EXCERPT_CHARS: usize = 200;

/// `Yes` or `No`: the answer to `SupportsRollback`, `NeedsUnpackedArtifact` and
/// `ProvidePayloadFileSizes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum YesNo {
    Yes,
    No,
}

impl YesNo {
    pub const fn is_yes(self) -> bool {
        matches!(self, YesNo::Yes)
    }
}

/// The answer to `NeedsArtifactReboot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RebootAnswer {
    /// No reboot (also what empty output means).
    No,
    /// baton calls the Interface's `ArtifactReboot` (a peripheral reboots itself).
    Yes,
    /// baton reboots the host once for the whole order group.
    Automatic,
}

/// An `Inventory` answer: keys in order, a repeated key's values in the order printed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Inventory(pub BTreeMap<String, Vec<String>>);

/// Which version key a `Provides` answer carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionKey {
    /// `rootfs-image.<interface>.version`: a component that does not run Mender.
    Interface,
    /// `rootfs-image.version`: a component running Mender (the System Device).
    Mender,
    /// Both. Mender's documentation prohibits the pair because the Server shows one version;
    /// baton's own checks work with either, so the caller warns instead of refusing.
    Both,
}

/// What was wrong with an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerProblem {
    #[error("output is not UTF-8")]
    NotUtf8,
    #[error("more than one line (the answer is exactly one line)")]
    TooManyLines,
    #[error("unknown answer, expected {expected} or nothing")]
    UnknownWord { expected: &'static str },
    #[error("empty output, expected id=<ID>")]
    Empty,
    #[error("expected exactly one line id=<ID>")]
    NotAnIdentity,
    #[error("the component ID {0}")]
    BadId(NameError),
    #[error("line {line} is not key=value")]
    MalformedLine { line: usize },
    #[error("line {line}: the key must be non-empty, without whitespace or control characters")]
    BadKey { line: usize },
    #[error("line {line}: the value must not hold control characters")]
    BadValue { line: usize },
    #[error("key {0:?} appears twice (Provides has no lists)")]
    DuplicateKey(String),
    #[error("key device_type is forbidden: the Topology's component_type is the device type")]
    DeviceTypeForbidden,
    #[error("neither {interface_key} nor rootfs-image.version is provided")]
    MissingVersion { interface_key: String },
    #[error("output exceeds the {cap}-byte capture limit, so the answer is incomplete")]
    Truncated { cap: usize },
}

/// An Interface answered a query with something the protocol does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Interface {interface} answered {query} badly: {problem}; output: {output}")]
pub struct BadAnswer {
    pub interface: InterfaceName,
    pub query: Query,
    pub problem: AnswerProblem,
    /// The start of the output, quoted and escaped (at most [`OUTPUT_EXCERPT_CHARS`]).
    pub output: String,
}

impl BadAnswer {
    pub fn new(
        interface: &InterfaceName,
        query: Query,
        problem: AnswerProblem,
        out: &[u8],
    ) -> Self {
        Self {
            interface: interface.clone(),
            query,
            problem,
            output: excerpt(out),
        }
    }
}

/// A quoted, escaped, bounded rendering of raw output for error messages.
pub(crate) fn excerpt(out: &[u8]) -> String {
    let text = String::from_utf8_lossy(out);
    let mut shown: String = text.chars().take(OUTPUT_EXCERPT_CHARS).collect();
    let cut = shown.len() < text.len();
    shown = format!("{shown:?}");
    if cut {
        shown.push_str(&format!(
            " (first {OUTPUT_EXCERPT_CHARS} of {} bytes)",
            out.len()
        ));
    }
    shown
}

/// The one line of a single-line answer: an optional trailing `\n` is allowed, nothing else.
fn single_line<'a>(
    interface: &InterfaceName,
    query: Query,
    out: &'a [u8],
) -> Result<&'a str, BadAnswer> {
    let bad = |p| BadAnswer::new(interface, query, p, out);
    let text = std::str::from_utf8(out).map_err(|_| bad(AnswerProblem::NotUtf8))?;
    let line = text.strip_suffix('\n').unwrap_or(text);
    if line.contains('\n') {
        return Err(bad(AnswerProblem::TooManyLines));
    }
    Ok(line)
}

/// `Yes`/`No` queries. `default` is what empty output means for this query.
pub fn parse_yes_no(
    interface: &InterfaceName,
    query: Query,
    default: YesNo,
    out: &[u8],
) -> Result<YesNo, BadAnswer> {
    match single_line(interface, query, out)? {
        "" => Ok(default),
        "Yes" => Ok(YesNo::Yes),
        "No" => Ok(YesNo::No),
        _ => Err(BadAnswer::new(
            interface,
            query,
            AnswerProblem::UnknownWord {
                expected: "Yes or No",
            },
            out,
        )),
    }
}

/// `NeedsArtifactReboot`: `No` (or nothing), `Yes` or `Automatic`.
pub fn parse_reboot(interface: &InterfaceName, out: &[u8]) -> Result<RebootAnswer, BadAnswer> {
    let query = Query::NeedsArtifactReboot;
    match single_line(interface, query, out)? {
        "" | "No" => Ok(RebootAnswer::No),
        "Yes" => Ok(RebootAnswer::Yes),
        "Automatic" => Ok(RebootAnswer::Automatic),
        _ => Err(BadAnswer::new(
            interface,
            query,
            AnswerProblem::UnknownWord {
                expected: "No, Yes or Automatic",
            },
            out,
        )),
    }
}

/// `Identity`: exactly `id=<ID>`, where the ID can name a directory.
pub fn parse_identity(interface: &InterfaceName, out: &[u8]) -> Result<ComponentId, BadAnswer> {
    let query = Query::Identity;
    let bad = |p| BadAnswer::new(interface, query, p, out);
    let line = single_line(interface, query, out)?;
    if line.is_empty() {
        return Err(bad(AnswerProblem::Empty));
    }
    let id = line
        .strip_prefix("id=")
        .ok_or_else(|| bad(AnswerProblem::NotAnIdentity))?;
    ComponentId::new(id).map_err(|e| bad(AnswerProblem::BadId(e)))
}

/// `key=value` lines. Blank lines carry nothing and are skipped; everything else must parse.
fn key_values<'a>(
    interface: &InterfaceName,
    query: Query,
    out: &'a [u8],
) -> Result<Vec<(&'a str, &'a str)>, BadAnswer> {
    let bad = |p| BadAnswer::new(interface, query, p, out);
    let text = std::str::from_utf8(out).map_err(|_| bad(AnswerProblem::NotUtf8))?;
    let mut pairs = Vec::new();
    // Split on '\n' only: a '\r' left at a line's end is a control character in the value.
    let body = text.strip_suffix('\n').unwrap_or(text);
    for (i, line) in body.split('\n').enumerate() {
        let line_no = i + 1;
        if line.is_empty() {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| bad(AnswerProblem::MalformedLine { line: line_no }))?;
        if key.is_empty() || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad(AnswerProblem::BadKey { line: line_no }));
        }
        if value.chars().any(char::is_control) {
            return Err(bad(AnswerProblem::BadValue { line: line_no }));
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// `Provides`: unique `key=value` lines without `device_type`.
///
/// The version key is checked separately by [`provides_version`], because `show-provides`
/// must be able to report a component whose Interface forgot it.
pub fn parse_provides(interface: &InterfaceName, out: &[u8]) -> Result<Provides, BadAnswer> {
    let query = Query::Provides;
    let mut provides = BTreeMap::new();
    for (key, value) in key_values(interface, query, out)? {
        if key == "device_type" {
            return Err(BadAnswer::new(
                interface,
                query,
                AnswerProblem::DeviceTypeForbidden,
                out,
            ));
        }
        if provides.insert(key.to_owned(), value.to_owned()).is_some() {
            return Err(BadAnswer::new(
                interface,
                query,
                AnswerProblem::DuplicateKey(key.to_owned()),
                out,
            ));
        }
    }
    Ok(Provides(provides))
}

/// The version key a `Provides` answer must carry.
///
/// A missing key is an error, not a warning. Mender's documentation calls it mandatory ("no new
/// Artifacts can be deployed to Components" without it), and it is what makes a Manifest a
/// desired state: without it baton could never see that a component already runs the
/// Artifact, and would reinstall it on every pass. Refusing early, naming the Interface, is
/// kinder than a silent reinstall loop.
pub fn provides_version(
    interface: &InterfaceName,
    provides: &Provides,
) -> Result<VersionKey, BadAnswer> {
    let interface_key = format!("rootfs-image.{interface}.version");
    match (
        provides.get(&interface_key).is_some(),
        provides.get("rootfs-image.version").is_some(),
    ) {
        (true, true) => Ok(VersionKey::Both),
        (true, false) => Ok(VersionKey::Interface),
        (false, true) => Ok(VersionKey::Mender),
        (false, false) => {
            let shown: String = provides.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
            Err(BadAnswer::new(
                interface,
                Query::Provides,
                AnswerProblem::MissingVersion { interface_key },
                shown.as_bytes(),
            ))
        }
    }
}

/// `Inventory`: `key=value` lines; a repeated key makes a list.
pub fn parse_inventory(interface: &InterfaceName, out: &[u8]) -> Result<Inventory, BadAnswer> {
    let mut inventory: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, value) in key_values(interface, Query::Inventory, out)? {
        inventory
            .entry(key.to_owned())
            .or_default()
            .push(value.to_owned());
    }
    Ok(Inventory(inventory))
}

impl fmt::Display for YesNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            YesNo::Yes => "Yes",
            YesNo::No => "No",
        })
    }
}

impl fmt::Display for RebootAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RebootAnswer::No => "No",
            RebootAnswer::Yes => "Yes",
            RebootAnswer::Automatic => "Automatic",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mock() -> InterfaceName {
        InterfaceName::new("mock").unwrap()
    }

    #[test]
    fn yes_no_table() {
        use YesNo::*;
        let q = Query::SupportsRollback;
        let table: &[(&[u8], YesNo, Option<YesNo>)] = &[
            (b"", No, Some(No)),
            (b"", Yes, Some(Yes)),
            (b"\n", No, Some(No)),
            (b"Yes", No, Some(Yes)),
            (b"Yes\n", No, Some(Yes)),
            (b"No\n", Yes, Some(No)),
            (b"yes\n", No, None),
            (b"Yes \n", No, None),
            (b" Yes", No, None),
            (b"Yes\r\n", No, None),
            (b"Yes\nNo\n", No, None),
            (b"Yes\n\n", No, None),
            (b"\nYes", No, None),
            (b"Maybe", No, None),
            (b"\xff\xfe", No, None),
        ];
        for &(out, default, want) in table {
            let got = parse_yes_no(&mock(), q, default, out).ok();
            assert_eq!(got, want, "output {out:?} default {default:?}");
        }
    }

    #[test]
    fn reboot_table() {
        use RebootAnswer::*;
        let table: &[(&[u8], Option<RebootAnswer>)] = &[
            (b"", Some(No)),
            (b"No\n", Some(No)),
            (b"Yes\n", Some(Yes)),
            (b"Automatic\n", Some(Automatic)),
            (b"Automatic", Some(Automatic)),
            (b"automatic\n", None),
            (b"Yes\nAutomatic\n", None),
            (b"Reboot\n", None),
        ];
        for &(out, want) in table {
            assert_eq!(parse_reboot(&mock(), out).ok(), want, "output {out:?}");
        }
    }

    #[test]
    fn errors_name_the_interface_the_query_and_the_output() {
        let err =
            parse_yes_no(&mock(), Query::NeedsUnpackedArtifact, YesNo::Yes, b"Sure\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("Interface mock"), "{msg}");
        assert!(msg.contains("NeedsUnpackedArtifact"), "{msg}");
        assert!(msg.contains("\"Sure\\n\""), "{msg}");

        let err = parse_reboot(&mock(), b"Yes\nNo\n").unwrap_err();
        assert_eq!(err.problem, AnswerProblem::TooManyLines);
        assert!(err.to_string().contains("NeedsArtifactReboot"));
    }

    #[test]
    fn excerpts_are_bounded() {
        let flood = vec![b'x'; 10 * 1024 * 1024];
        let err = parse_reboot(&mock(), &flood).unwrap_err();
        assert!(
            err.output.len() < OUTPUT_EXCERPT_CHARS + 100,
            "{}",
            err.output.len()
        );
        assert!(err.output.contains("of 10485760 bytes"));
    }

    #[test]
    fn identity_table() {
        let ok: &[(&[u8], &str)] = &[
            (b"id=R123\n", "R123"),
            (b"id=R123", "R123"),
            (b"id=a=b\n", "a=b"),
        ];
        for &(out, id) in ok {
            assert_eq!(
                parse_identity(&mock(), out).unwrap().as_str(),
                id,
                "{out:?}"
            );
        }
        let bad: &[(&[u8], AnswerProblem)] = &[
            (b"", AnswerProblem::Empty),
            (b"\n", AnswerProblem::Empty),
            (b"R123\n", AnswerProblem::NotAnIdentity),
            (b"ID=R123\n", AnswerProblem::NotAnIdentity),
            (b"id=R1\nid=R2\n", AnswerProblem::TooManyLines),
            (b"id=\n", AnswerProblem::BadId(NameError::Empty)),
            (
                b"id=../etc\n",
                AnswerProblem::BadId(NameError::NotPlainFileName),
            ),
            (
                b"id=a/b\n",
                AnswerProblem::BadId(NameError::NotPlainFileName),
            ),
            (
                b"id=.hidden\n",
                AnswerProblem::BadId(NameError::NotPlainFileName),
            ),
            (b"id=R 1\n", AnswerProblem::BadId(NameError::BadCharacter)),
            (b"\xffid=1", AnswerProblem::NotUtf8),
        ];
        for (out, problem) in bad {
            let err = parse_identity(&mock(), out).unwrap_err();
            assert_eq!(&err.problem, problem, "{out:?}");
            assert_eq!(err.query, Query::Identity);
        }
    }

    #[test]
    fn provides_table() {
        let p = parse_provides(
            &mock(),
            b"rootfs-image.mock.version=v1\nartifact_name=v1\n\nx.y=a=b\n",
        )
        .unwrap();
        assert_eq!(p.get("rootfs-image.mock.version"), Some("v1"));
        assert_eq!(p.get("artifact_name"), Some("v1"));
        assert_eq!(p.get("x.y"), Some("a=b"));
        assert_eq!(p.iter().count(), 3);
        assert_eq!(parse_provides(&mock(), b"").unwrap(), Provides::default());
        assert_eq!(parse_provides(&mock(), b"k=\n").unwrap().get("k"), Some(""));

        let bad: &[(&[u8], AnswerProblem)] = &[
            (b"a=1\na=2\n", AnswerProblem::DuplicateKey("a".into())),
            (b"device_type=rtos\n", AnswerProblem::DeviceTypeForbidden),
            (
                b"a=1\nnot a pair\n",
                AnswerProblem::MalformedLine { line: 2 },
            ),
            (b"=v\n", AnswerProblem::BadKey { line: 1 }),
            (b"a b=v\n", AnswerProblem::BadKey { line: 1 }),
            (b"a=v\r\n", AnswerProblem::BadValue { line: 1 }),
            (b"a=v\tw\n", AnswerProblem::BadValue { line: 1 }),
            (b"a=\xff\n", AnswerProblem::NotUtf8),
        ];
        for (out, problem) in bad {
            let err = parse_provides(&mock(), out).unwrap_err();
            assert_eq!(&err.problem, problem, "{out:?}");
            assert_eq!(err.query, Query::Provides);
        }
    }

    #[test]
    fn provides_must_carry_a_version_key() {
        let check = |out: &[u8]| provides_version(&mock(), &parse_provides(&mock(), out).unwrap());
        assert_eq!(
            check(b"rootfs-image.mock.version=v1\n"),
            Ok(VersionKey::Interface)
        );
        assert_eq!(check(b"rootfs-image.version=v1\n"), Ok(VersionKey::Mender));
        assert_eq!(
            check(b"rootfs-image.version=v1\nrootfs-image.mock.version=v1\n"),
            Ok(VersionKey::Both)
        );
        // Another Interface's key does not count: the key names *this* Interface.
        let err = check(b"rootfs-image.other.version=v1\nartifact_name=v1\n").unwrap_err();
        assert_eq!(
            err.problem,
            AnswerProblem::MissingVersion {
                interface_key: "rootfs-image.mock.version".into()
            }
        );
        let msg = err.to_string();
        assert!(
            msg.contains("Interface mock") && msg.contains("Provides"),
            "{msg}"
        );
        assert!(msg.contains("rootfs-image.other.version=v1"), "{msg}");
    }

    #[test]
    fn inventory_repeats_make_lists() {
        let inv = parse_inventory(&mock(), b"ip=10.0.0.1\nmac=aa\nip=10.0.0.2\n\n").unwrap();
        assert_eq!(inv.0["ip"], ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(inv.0["mac"], ["aa"]);
        assert_eq!(inv.0.len(), 2);
        let err = parse_inventory(&mock(), b"ip 10.0.0.1\n").unwrap_err();
        assert_eq!(err.query, Query::Inventory);
        assert_eq!(err.problem, AnswerProblem::MalformedLine { line: 1 });
    }
}
