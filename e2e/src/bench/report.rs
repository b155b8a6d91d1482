//! What a benchmark reports: rows of baton against a baseline, their ratio, a target and
//! whether it is met; sections of rows with the prose that says how they were measured; and
//! their rendering as Markdown.
//!
//! Pure: no IO, no clock. The verdict is computed here, from the medians, in one place, so a
//! table can never say "met" for a figure that is not.

use std::fmt::Write;

use super::stats::Summary;

/// The unit of a figure; every statistic of a [`Summary`] is in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Millis,
    MiB,
    KiB,
    Percent,
    PerSecond,
    Count,
}

impl Unit {
    fn symbol(self) -> &'static str {
        match self {
            Unit::Seconds => "s",
            Unit::Millis => "ms",
            Unit::MiB => "MiB",
            Unit::KiB => "KiB",
            Unit::Percent => "%",
            Unit::PerSecond => "/s",
            Unit::Count => "",
        }
    }

    /// `v` with as many decimals as its size deserves, and the unit's symbol.
    pub fn show(self, v: f64) -> String {
        let number = match self {
            Unit::Count | Unit::PerSecond => format!("{v:.0}"),
            Unit::Percent => format!("{v:.2}"),
            _ if v.abs() >= 100.0 => format!("{v:.0}"),
            _ if v.abs() >= 10.0 => format!("{v:.1}"),
            Unit::Seconds => format!("{v:.3}"),
            _ => format!("{v:.2}"),
        };
        match self.symbol() {
            "" => number,
            s => format!("{number} {s}"),
        }
    }
}

/// One measured quantity: what it is (e.g. "spawn only"), its summary and unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub what: String,
    pub summary: Summary,
    pub unit: Unit,
}

impl Figure {
    pub fn new(what: impl Into<String>, summary: Summary, unit: Unit) -> Figure {
        Figure {
            what: what.into(),
            summary,
            unit,
        }
    }

    /// "0.512 s (0.501-0.533)": the median and the range; one run shows no range.
    pub fn cell(&self) -> String {
        let s = &self.summary;
        let mut out = self.unit.show(s.median);
        if s.n > 1 {
            let _ = write!(
                out,
                " ({}-{})",
                self.unit
                    .show(s.min)
                    .trim_end_matches(self.unit.symbol())
                    .trim(),
                self.unit.show(s.max)
            );
        }
        out
    }
}

/// A figure, or why there is none (a tool missing, a step that failed).
pub type Measured = Result<Figure, String>;

/// Which number a target bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// baton's median divided by the baseline's.
    Ratio,
    /// baton's median itself, in its unit.
    Baton,
}

/// A bound from the issue: strictly below, or at most.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    Below(f64),
    AtMost(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub on: On,
    pub bound: Bound,
    /// A target shown for information only (judged on another row); its verdict says so.
    pub judged: bool,
}

impl Target {
    pub fn ratio_below(x: f64) -> Target {
        Target {
            on: On::Ratio,
            bound: Bound::Below(x),
            judged: true,
        }
    }
    pub fn ratio_at_most(x: f64) -> Target {
        Target {
            on: On::Ratio,
            bound: Bound::AtMost(x),
            judged: true,
        }
    }
    pub fn below(x: f64) -> Target {
        Target {
            on: On::Baton,
            bound: Bound::Below(x),
            judged: true,
        }
    }
    /// The same bound, shown but not judged on this row.
    pub fn informational(self) -> Target {
        Target {
            judged: false,
            ..self
        }
    }

    fn text(&self, unit: Unit) -> String {
        let (op, x) = match self.bound {
            Bound::Below(x) => ("<", x),
            Bound::AtMost(x) => ("<=", x),
        };
        match self.on {
            On::Ratio => format!("{op} {x}x"),
            On::Baton => format!("{op} {}", unit.show(x)),
        }
    }

    fn holds(&self, v: f64) -> bool {
        match self.bound {
            Bound::Below(x) => v < x,
            Bound::AtMost(x) => v <= x,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Met,
    NotMet,
    /// The figure (or its baseline) could not be measured.
    NotMeasured,
    /// No target, or one shown for information only.
    NotJudged,
}

/// One scenario: baton, optionally a baseline, optionally the true floor, optionally a
/// target.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub scenario: String,
    pub baton: Measured,
    pub baseline: Option<Measured>,
    /// The least the work can cost on this machine, whatever the tool (a single-thread
    /// decompressor, SHA-256 at the CPU's speed, a bare spawn): a peer or a shell pipeline
    /// can be slow, the floor cannot.
    pub floor: Option<Measured>,
    pub target: Option<Target>,
}

impl Row {
    pub fn new(scenario: impl Into<String>, baton: Measured) -> Row {
        Row {
            scenario: scenario.into(),
            baton,
            baseline: None,
            floor: None,
            target: None,
        }
    }

    pub fn against(mut self, baseline: Measured) -> Row {
        self.baseline = Some(baseline);
        self
    }

    /// The true floor of this row's work (see [`Row::floor`]).
    pub fn floor(mut self, floor: Measured) -> Row {
        self.floor = Some(floor);
        self
    }

    /// baton's median over the floor's.
    pub fn floor_ratio(&self) -> Option<f64> {
        ratio(&self.baton, self.floor.as_ref()?)
    }

    pub fn target(mut self, t: Target) -> Row {
        self.target = Some(t);
        self
    }

    /// baton's median over the baseline's, when both were measured (in the same unit).
    pub fn ratio(&self) -> Option<f64> {
        ratio(&self.baton, self.baseline.as_ref()?)
    }

    pub fn verdict(&self) -> Verdict {
        let Some(t) = &self.target else {
            return Verdict::NotJudged;
        };
        let value = match t.on {
            On::Ratio => self.ratio(),
            On::Baton => self.baton.as_ref().ok().map(|f| f.summary.median),
        };
        match value {
            None => Verdict::NotMeasured,
            Some(_) if !t.judged => Verdict::NotJudged,
            Some(v) if t.holds(v) => Verdict::Met,
            Some(_) => Verdict::NotMet,
        }
    }

    fn unit(&self) -> Unit {
        self.baton.as_ref().map_or(Unit::Count, |f| f.unit)
    }

    fn target_cell(&self) -> String {
        let Some(t) = &self.target else {
            return String::new();
        };
        let text = t.text(self.unit());
        match self.verdict() {
            Verdict::Met => format!("{text}: met"),
            Verdict::NotMet => format!("{text}: **NOT met**"),
            Verdict::NotMeasured => format!("{text}: not measured"),
            Verdict::NotJudged => format!("({text}: not judged here)"),
        }
    }
}

/// `a`'s median over `b`'s, when both were measured in the same unit.
fn ratio(a: &Measured, b: &Measured) -> Option<f64> {
    let (a, b) = (a.as_ref().ok()?, b.as_ref().ok()?);
    (a.unit == b.unit && b.summary.median > 0.0).then(|| a.summary.median / b.summary.median)
}

fn measured_cell(m: &Measured, with_name: bool) -> String {
    match m {
        Ok(f) if with_name && !f.what.is_empty() => format!("{}: {}", f.what, f.cell()),
        Ok(f) => f.cell(),
        Err(why) => format!("not measured: {why}"),
    }
}

/// A titled group of rows with the prose that explains them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Section {
    pub title: String,
    /// Paragraphs before the table: what is measured and how.
    pub intro: Vec<String>,
    pub rows: Vec<Row>,
    /// Paragraphs after the table: what the figures mean.
    pub notes: Vec<String>,
}

impl Section {
    pub fn new(title: impl Into<String>) -> Section {
        Section {
            title: title.into(),
            ..Section::default()
        }
    }

    pub fn intro(mut self, p: impl Into<String>) -> Section {
        self.intro.push(p.into());
        self
    }

    pub fn note(&mut self, p: impl Into<String>) {
        self.notes.push(p.into());
    }

    /// The section as Markdown: `### title`, the intro, the table, the notes.
    pub fn markdown(&self) -> String {
        let mut out = format!("### {}\n\n", self.title);
        for p in &self.intro {
            let _ = writeln!(out, "{p}\n");
        }
        // The floor's columns only where a row names one: other tables keep their shape.
        let floors = self.rows.iter().any(|r| r.floor.is_some());
        if !self.rows.is_empty() {
            out.push_str("| scenario | runs | baton: median (min-max) | baseline: median (min-max) | baton / baseline |");
            out.push_str(if floors {
                " true floor: median (min-max) | baton / floor | target |\n|---|---:|---:|---:|---:|---:|---:|---|\n"
            } else {
                " target |\n|---|---:|---:|---:|---:|---|\n"
            });
            for r in &self.rows {
                let runs = r
                    .baton
                    .as_ref()
                    .map_or(String::new(), |f| f.summary.n.to_string());
                let baseline = r
                    .baseline
                    .as_ref()
                    .map_or(String::new(), |b| measured_cell(b, true));
                let ratio = r.ratio().map_or(String::new(), |x| format!("{x:.2}x"));
                let floor = if floors {
                    let cell = r
                        .floor
                        .as_ref()
                        .map_or(String::new(), |f| measured_cell(f, true));
                    let x = r
                        .floor_ratio()
                        .map_or(String::new(), |x| format!("{x:.2}x"));
                    format!(" {cell} | {x} |")
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    "| {} | {runs} | {} | {baseline} | {ratio} |{floor} {} |",
                    r.scenario,
                    measured_cell(&r.baton, false),
                    r.target_cell()
                );
            }
            out.push('\n');
        }
        for p in &self.notes {
            let _ = writeln!(out, "{p}\n");
        }
        out
    }
}

/// Every judged target across sections, as one table: the page's summary.
pub fn targets_table(sections: &[Section]) -> String {
    let mut out = String::from(
        "| section | scenario | target | measured | verdict |\n|---|---|---|---:|---|\n",
    );
    for s in sections {
        for r in &s.rows {
            let Some(t) = r.target.as_ref().filter(|t| t.judged) else {
                continue;
            };
            let measured = match (t.on, r.ratio(), &r.baton) {
                (On::Ratio, Some(x), _) => format!("{x:.2}x"),
                (On::Baton, _, Ok(f)) => f.unit.show(f.summary.median),
                _ => "-".into(),
            };
            let verdict = match r.verdict() {
                Verdict::Met => "met",
                Verdict::NotMet => "**NOT met**",
                Verdict::NotMeasured => "not measured",
                Verdict::NotJudged => "not judged",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {measured} | {verdict} |",
                s.title,
                r.scenario,
                t.text(r.unit())
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(v: &[f64], unit: Unit) -> Measured {
        Ok(Figure::new("x", Summary::of(v).unwrap(), unit))
    }

    #[test]
    fn a_ratio_target_is_judged_on_the_medians() {
        let row = Row::new("300", fig(&[1.2, 1.25, 9.0], Unit::Seconds))
            .against(fig(&[1.0, 1.0, 1.0], Unit::Seconds))
            .target(Target::ratio_below(1.3));
        assert!((row.ratio().unwrap() - 1.25).abs() < 1e-9);
        assert_eq!(row.verdict(), Verdict::Met);
        let slow = Row {
            baton: fig(&[1.3, 1.3, 1.3], Unit::Seconds),
            ..row
        };
        assert_eq!(slow.verdict(), Verdict::NotMet, "below is strict");
    }

    #[test]
    fn at_most_includes_the_bound() {
        let row = Row::new("install", fig(&[2.0], Unit::Seconds))
            .against(fig(&[2.0], Unit::Seconds))
            .target(Target::ratio_at_most(1.0));
        assert_eq!(row.verdict(), Verdict::Met);
    }

    #[test]
    fn a_value_target_ignores_the_baseline() {
        let row = Row::new("idle RSS", fig(&[16.0], Unit::MiB))
            .against(fig(&[0.5], Unit::MiB))
            .target(Target::below(15.0));
        assert_eq!(row.verdict(), Verdict::NotMet);
        assert!(row.markdown_cell_contains("< 15.0 MiB: **NOT met**"));
    }

    #[test]
    fn missing_figures_are_not_measured_never_met() {
        let row = Row::new("install", Err("mender is not installed".into()))
            .against(fig(&[1.0], Unit::Seconds))
            .target(Target::ratio_at_most(1.0));
        assert_eq!(row.verdict(), Verdict::NotMeasured);
        let no_base = Row::new("install", fig(&[1.0], Unit::Seconds))
            .against(Err("no tool".into()))
            .target(Target::ratio_at_most(1.0));
        assert_eq!(no_base.verdict(), Verdict::NotMeasured);
    }

    #[test]
    fn informational_targets_are_shown_not_judged() {
        let row = Row::new("300, ext4", fig(&[3.0], Unit::Seconds))
            .against(fig(&[1.0], Unit::Seconds))
            .target(Target::ratio_below(1.3).informational());
        assert_eq!(row.verdict(), Verdict::NotJudged);
        let mut s = Section::new("Orchestration");
        s.rows.push(row);
        assert!(s.markdown().contains("(< 1.3x: not judged here)"));
        assert!(!targets_table(&[s]).contains("300, ext4"));
    }

    #[test]
    fn different_units_have_no_ratio() {
        let row = Row::new("x", fig(&[1.0], Unit::Seconds)).against(fig(&[1.0], Unit::MiB));
        assert_eq!(row.ratio(), None);
    }

    #[test]
    fn cells_show_median_and_range() {
        let f = Figure::new("", Summary::of(&[0.5, 0.25, 0.75]).unwrap(), Unit::Seconds);
        assert_eq!(f.cell(), "0.500 s (0.250-0.750 s)");
        let one = Figure::new("", Summary::of(&[13.62]).unwrap(), Unit::MiB);
        assert_eq!(one.cell(), "13.6 MiB");
        assert_eq!(Unit::PerSecond.show(31234.4), "31234 /s");
        assert_eq!(Unit::Millis.show(0.123), "0.12 ms");
    }

    #[test]
    fn a_section_renders_a_table_with_every_row() {
        let mut s = Section::new("Artifact verification").intro("How.");
        s.rows.push(
            Row::new("none", fig(&[1.0, 1.1], Unit::Seconds))
                .against(Ok(Figure::new(
                    "openssl dgst",
                    Summary::of(&[1.0, 1.0]).unwrap(),
                    Unit::Seconds,
                )))
                .target(Target::ratio_at_most(1.2)),
        );
        s.note("Why.");
        let md = s.markdown();
        assert!(md.starts_with("### Artifact verification\n\nHow.\n\n| scenario |"));
        assert!(md.contains("| none | 2 | 1.050 s (1.000-1.100 s) | openssl dgst: 1.000 s (1.000-1.000 s) | 1.05x | <= 1.2x: met |"));
        assert!(md.trim_end().ends_with("Why."));
        let summary = targets_table(&[s]);
        assert!(summary.contains("| Artifact verification | none | <= 1.2x | 1.05x | met |"));
    }

    #[test]
    fn a_floor_adds_its_columns_and_its_ratio() {
        let mut s = Section::new("Artifact verification");
        s.rows.push(
            Row::new("gzip", fig(&[1.2], Unit::Seconds))
                .against(fig(&[2.0], Unit::Seconds))
                .floor(Ok(Figure::new(
                    "libdeflate-gunzip -c",
                    Summary::of(&[1.0]).unwrap(),
                    Unit::Seconds,
                ))),
        );
        s.rows.push(Row::new("none", fig(&[1.0], Unit::Seconds)));
        let md = s.markdown();
        assert!(md.contains(
            "| baton / baseline | true floor: median (min-max) | baton / floor | target |"
        ));
        assert!(
            md.contains("| 0.60x | libdeflate-gunzip -c: 1.000 s | 1.20x |  |"),
            "{md}"
        );
        assert!(md.contains("| none | 1 | 1.000 s |  |  |  |  |  |"), "{md}");
        let plain = Section {
            rows: vec![Row::new("x", fig(&[1.0], Unit::Seconds))],
            ..Section::new("t")
        };
        assert!(!plain.markdown().contains("floor"));
    }

    impl Row {
        fn markdown_cell_contains(&self, text: &str) -> bool {
            self.target_cell().contains(text)
        }
    }
}
