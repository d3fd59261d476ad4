//! `deploy --write`: the new image tag goes into the manifest file, changing nothing else —
//! the line is edited in place (comments and layout stay), the result is parsed again and
//! must differ from the original in that one field, and the file is replaced atomically.

use std::path::Path;

use super::DeployError;

/// The manifest's key of a deployable component.
fn key_of(component: &str) -> Result<&'static str, DeployError> {
    match component {
        "frontend" => Ok("frontend"),
        "cms" => Ok("cms"),
        other => Err(DeployError::Invalid(format!(
            "--write: the image of {other} is not a field appstack can set (frontend or cms)"
        ))),
    }
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_content(line: &str) -> bool {
    let t = line.trim_start();
    !t.is_empty() && !t.starts_with('#')
}

/// The text with `spec.<component>.image` set to `image`.
pub fn with_image(text: &str, component: &str, image: &str) -> Result<String, DeployError> {
    let key = key_of(component)?;
    let lines: Vec<&str> = text.lines().collect();
    let field = |what: &str| DeployError::Invalid(format!("--write: no {what} in the manifest"));
    let spec = lines
        .iter()
        .position(|l| l.trim_end() == "spec:")
        .ok_or_else(|| field("top-level `spec:` block"))?;
    let child = lines[spec + 1..]
        .iter()
        .find(|l| is_content(l))
        .map(|l| indent(l))
        .ok_or_else(|| field("spec fields"))?;
    let block = (spec + 1..lines.len())
        .take_while(|&i| !is_content(lines[i]) || indent(lines[i]) >= child)
        .find(|&i| {
            indent(lines[i]) == child && lines[i].trim_end() == format!("{:child$}{key}:", "")
        })
        .ok_or_else(|| field(&format!("`spec.{key}:` block")))?;
    let inner = lines[block + 1..]
        .iter()
        .find(|l| is_content(l))
        .map(|l| indent(l))
        .filter(|&n| n > child)
        .ok_or_else(|| field(&format!("spec.{key} fields")))?;
    let end = (block + 1..lines.len())
        .find(|&i| is_content(lines[i]) && indent(lines[i]) < inner)
        .unwrap_or(lines.len());
    // A plain scalar needs no quotes; anything YAML could read otherwise is quoted.
    let value = if image
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "./:-_@".contains(c))
    {
        image.to_string()
    } else {
        serde_json::to_string(image).map_err(|e| DeployError::Invalid(e.to_string()))?
    };
    let line = format!("{:inner$}image: {value}", "");
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    match (block + 1..end)
        .find(|&i| indent(lines[i]) == inner && lines[i].trim_start().starts_with("image:"))
    {
        Some(i) => out[i] = line,
        None => out.insert(block + 1, line),
    }
    let mut joined = out.join("\n");
    if text.ends_with('\n') {
        joined.push('\n');
    }
    check_only_image_changed(text, &joined, key, image)?;
    Ok(joined)
}

/// Both texts parsed: equal once the old one has the new image.
fn check_only_image_changed(
    old: &str,
    new: &str,
    key: &str,
    image: &str,
) -> Result<(), DeployError> {
    let parse = |t: &str| {
        serde_norway::from_str::<serde_json::Value>(t).map_err(|e| {
            DeployError::Invalid(format!("--write: the edited manifest does not parse: {e}"))
        })
    };
    let mut want = parse(old)?;
    let got = parse(new)?;
    if let Some(obj) = want
        .get_mut("spec")
        .and_then(|s| s.get_mut(key))
        .and_then(|c| c.as_object_mut())
    {
        obj.insert("image".into(), serde_json::Value::String(image.into()));
    }
    if want != got {
        return Err(DeployError::Invalid(format!(
            "--write: could not set spec.{key}.image without changing anything else; set it by hand"
        )));
    }
    Ok(())
}

/// Writes the manifest with the new image (same directory, then renamed over it).
pub fn write_image(path: &Path, component: &str, image: &str) -> Result<(), DeployError> {
    let io = |e: std::io::Error| DeployError::Invalid(format!("{}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(io)?;
    let new = with_image(&text, component, image)?;
    let tmp = path.with_extension("appstack-write.tmp");
    std::fs::write(&tmp, new).map_err(io)?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &str = "apiVersion: appstack.io/v1alpha1\nkind: AppStack\nmetadata:\n  name: s\nspec:\n  # the site\n  frontend:\n    image: web:1 # pinned\n    port: 3000\n  cms:\n    port: 8055\n";

    #[test]
    fn the_image_line_changes_and_nothing_else() {
        let out = with_image(M, "frontend", "web:2").unwrap();
        assert_eq!(out, M.replace("image: web:1 # pinned", "image: web:2"));
        let out = with_image(M, "cms", "appstack/directus:12").unwrap();
        assert!(
            out.contains("  cms:\n    image: appstack/directus:12\n    port: 8055\n"),
            "{out}"
        );
    }

    #[test]
    fn an_unknown_component_or_shape_is_refused() {
        assert!(matches!(
            with_image(M, "database", "x"),
            Err(DeployError::Invalid(_))
        ));
        assert!(matches!(
            with_image("spec: {frontend: {image: a}}\n", "frontend", "b"),
            Err(DeployError::Invalid(_))
        ));
    }
}
