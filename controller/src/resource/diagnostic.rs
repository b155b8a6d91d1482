//! Diagnostics: what is wrong with a document, and exactly where.
//!
//! Every problem baton finds in a Topology, a Manifest or a configuration file becomes one
//! [`Diagnostic`] naming the file, the line and column, the field path and what was expected.
//! Readers collect all of them before giving up, so a user fixes a file in one pass.
//! This module only formats; it never reads files.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One problem in one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// The file path as given by the caller, or `api` for a request body.
    pub file: String,
    /// 1-based; 0 when the problem is about the file as a whole (it could not be read).
    pub line: u64,
    /// 1-based, in characters; 0 when `line` is 0.
    pub column: u64,
    /// The field, e.g. `component_types.rtos.update_strategy.order` or `components[1].interface`;
    /// empty for the document itself.
    pub path: String,
    pub message: String,
    /// What would have been accepted; empty when there is nothing useful to add.
    pub expected: String,
}

impl Diagnostic {
    pub fn new(
        file: impl Into<String>,
        pos: Pos,
        path: impl Into<String>,
        message: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            line: pos.line,
            column: pos.column,
            path: path.into(),
            message: message.into(),
            expected: expected.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if !self.expected.is_empty() {
            write!(f, " (expected {})", self.expected)?;
        }
        Ok(())
    }
}

/// A line and column in a source text, both 1-based (0 = unknown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

impl Pos {
    pub const UNKNOWN: Pos = Pos { line: 0, column: 0 };
    pub fn new(line: u64, column: u64) -> Self {
        Self { line, column }
    }
}

/// All the problems found in one or more documents, in source order. Never empty when
/// returned as an error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.0.extend(other);
    }
    /// Sorts by position so the output reads top to bottom, and drops exact repeats.
    pub fn sorted(mut self) -> Self {
        self.0.sort_by(|a, b| {
            (&a.file, a.line, a.column, &a.path, &a.message)
                .cmp(&(&b.file, b.line, b.column, &b.path, &b.message))
        });
        self.0.dedup();
        self
    }
}

impl From<Vec<Diagnostic>> for Diagnostics {
    fn from(v: Vec<Diagnostic>) -> Self {
        Self(v)
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_column_path_and_expectation() {
        let d = Diagnostic::new(
            "m.yaml",
            Pos::new(7, 14),
            "component_types.rtos.update_strategy.order",
            "101 is out of range",
            "an integer from 1 to 100",
        );
        assert_eq!(
            d.to_string(),
            "m.yaml:7:14: component_types.rtos.update_strategy.order: 101 is out of range \
             (expected an integer from 1 to 100)"
        );
        let bare = Diagnostic::new("t.yaml", Pos::new(1, 1), "", "empty document", "");
        assert_eq!(bare.to_string(), "t.yaml:1:1: empty document");
    }

    #[test]
    fn all_problems_are_listed_one_per_line_in_source_order() {
        let ds = Diagnostics(vec![
            Diagnostic::new("a", Pos::new(9, 1), "x", "second", ""),
            Diagnostic::new("a", Pos::new(2, 3), "y", "first", ""),
        ])
        .sorted();
        assert_eq!(ds.to_string(), "a:2:3: y: first\na:9:1: x: second");
    }
}
