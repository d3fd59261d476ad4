//! A drill's recovery time split into the phases a user can act on — fetch (pick and
//! verify the backup), fill (volumes filled), replay (WAL replayed, promoted, credentials
//! set), boot (the whole stack healthy), checks (the smoke checks) — and drawn as an SVG
//! timeline, one bar per phase, that the Markdown report links.

use serde::{Deserialize, Serialize};

use super::report::Step;

/// One phase of the recovery: seconds from the restore's start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Phase {
    pub name: String,
    pub from_seconds: f64,
    pub to_seconds: f64,
}

/// The steps that end each phase, as the restore and the drill name them.
const ENDS: [(&str, &[&str]); 5] = [
    ("fetch", &["backup verified"]),
    ("fill", &["data restored"]),
    ("replay", &["WAL replayed, promoted"]),
    ("boot", &["stack healthy"]),
    ("checks", &["smoke checks passed"]),
];

/// The phases the steps delimit (a phase whose end step is missing is left out).
pub fn phases(steps: &[Step]) -> Vec<Phase> {
    let mut out = Vec::new();
    let mut from = 0.0;
    for (name, ends) in ENDS {
        if let Some(end) = steps.iter().find(|s| ends.contains(&s.name.as_str())) {
            out.push(Phase {
                name: name.to_string(),
                from_seconds: from,
                to_seconds: end.at_seconds,
            });
            from = end.at_seconds;
        }
    }
    out
}

/// The phases as an SVG picture: a labelled bar per phase on one time axis.
pub fn svg(title: &str, phases: &[Phase]) -> String {
    const LEFT: f64 = 90.0;
    const WIDTH: f64 = 520.0;
    const ROW: f64 = 26.0;
    const TOP: f64 = 40.0;
    let end = phases
        .iter()
        .map(|p| p.to_seconds)
        .fold(0.0, f64::max)
        .max(0.001);
    let height = TOP + ROW * phases.len() as f64 + 30.0;
    let x = |s: f64| LEFT + s / end * WIDTH;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" viewBox=\"0 0 {w} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <title>{t}</title>\n<text x=\"10\" y=\"20\" font-size=\"14\">{t}</text>\n",
        w = LEFT + WIDTH + 80.0,
        t = escape(title)
    );
    for (i, p) in phases.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let bar = (x(p.to_seconds) - x(p.from_seconds)).max(1.0);
        out.push_str(&format!(
            "<g class=\"phase\"><text x=\"10\" y=\"{ty}\">{name}</text>\
             <rect x=\"{bx:.1}\" y=\"{y}\" width=\"{bar:.1}\" height=\"{h}\" fill=\"#3b82f6\"/>\
             <text x=\"{lx:.1}\" y=\"{ty}\">{d:.1}s</text></g>\n",
            ty = y + 14.0,
            name = escape(&p.name),
            bx = x(p.from_seconds),
            h = ROW - 8.0,
            lx = x(p.to_seconds) + 6.0,
            d = p.to_seconds - p.from_seconds,
        ));
    }
    let axis = TOP + ROW * phases.len() as f64 + 4.0;
    out.push_str(&format!(
        "<line x1=\"{LEFT}\" y1=\"{axis}\" x2=\"{r}\" y2=\"{axis}\" stroke=\"#555\"/>\n\
         <text x=\"{LEFT}\" y=\"{t}\">0s</text><text x=\"{r}\" y=\"{t}\" text-anchor=\"end\">{end:.1}s</text>\n</svg>\n",
        r = LEFT + WIDTH,
        t = axis + 16.0,
    ));
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, at: f64) -> Step {
        Step {
            name: name.into(),
            at_seconds: at,
        }
    }

    #[test]
    fn steps_become_phases_and_one_bar_each() {
        let steps = [
            step("backup verified", 0.2),
            step("data restored", 1.5),
            step("WAL replayed, promoted", 3.0),
            step("stack healthy", 9.0),
            step("database checks passed", 9.2),
            step("smoke checks passed", 10.0),
        ];
        let p = phases(&steps);
        let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["fetch", "fill", "replay", "boot", "checks"]);
        assert_eq!((p[3].from_seconds, p[3].to_seconds), (3.0, 9.0));
        let svg = svg("drill <x> & y", &p);
        assert_eq!(svg.matches("<rect ").count(), 5);
        assert!(svg.contains("drill &lt;x&gt; &amp; y"));
    }
}
