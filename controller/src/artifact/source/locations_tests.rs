//! Which kind of source a resolved file came from (the `source` label of the bytes read).

use super::*;
use crate::artifact::{Limits, VerifyPolicy};

#[test]
fn a_files_source_is_told_by_where_it_lives() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("artifacts");
    let downloads = tmp.path().join("downloads");
    std::fs::create_dir_all(&dir).unwrap();
    let resolver = Resolver::new(
        vec![
            SourceSpec::Url {
                template: "http://127.0.0.1:9/{artifact_name}".into(),
            },
            SourceSpec::Directory { path: dir.clone() },
        ],
        VerifyPolicy::default(),
        Limits::default(),
        HttpOptions::default(),
        &downloads,
        None,
        crate::metrics::Metrics::default(),
    )
    .unwrap();
    let at = resolver.locations();
    assert_eq!(at.kind_of(&dir.join("a.mender")), SourceKind::Directory);
    assert_eq!(at.kind_of(&downloads.join("d-1.mender")), SourceKind::Url);
    assert_eq!(
        at.kind_of(&downloads.join("server-1-0.mender")),
        SourceKind::MenderServer
    );
    assert_eq!(
        at.kind_of(&dir.join("sub").join("a.mender")),
        SourceKind::Path,
        "a directory source is not searched recursively"
    );
    assert_eq!(at.kind_of(&tmp.path().join("x.mender")), SourceKind::Path);
}
