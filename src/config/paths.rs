//! "Did you mean" for a file that is not there: the names in its folder, for a typo'd path on
//! the command line (`scenarios/canry.yaml`) or in a scenario's `mesh.files`.

use std::path::{Component, Path, PathBuf};

use super::diagnostic::suggest;

/// An existing path close to `path`, which names nothing: each component that is not there
/// is replaced by the closest name in its folder (so a typo in a folder's name is mended
/// too), or `None` when one of them has no close name. Folders are listed only along the
/// path, so the cost is a few directory reads. Ties go to the first name in byte order, so
/// the answer does not depend on the order the file system lists a folder in.
pub fn similar_path(path: &Path) -> Option<PathBuf> {
    let mut at = PathBuf::new();
    let mut mended = false;
    for component in path.components() {
        let Component::Normal(name) = component else {
            at.push(component);
            continue;
        };
        let next = at.join(name);
        if next.symlink_metadata().is_ok() {
            at = next;
            continue;
        }
        let folder = if at.as_os_str().is_empty() {
            Path::new(".")
        } else {
            at.as_path()
        };
        let names: Vec<String> = std::fs::read_dir(folder)
            .ok()?
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .collect();
        let closest = suggest(name.to_str()?, names.iter().map(String::as_str))?;
        at.push(closest);
        mended = true;
    }
    (mended && at.exists()).then_some(at)
}

/// The help for an unreadable `path`: "did you mean `...`?" when it is not there and a
/// similar one is.
pub fn not_found_help(path: &Path, error: &std::io::Error) -> Option<String> {
    if error.kind() != std::io::ErrorKind::NotFound {
        return None;
    }
    similar_path(path).map(|p| format!("did you mean `{}`?", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str, files: &[&str]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "meshsim-similar-path-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for f in files {
            let path = dir.join(f);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, "").expect("write");
        }
        dir
    }

    #[test]
    fn a_typo_in_a_file_or_folder_name_finds_the_file() {
        let dir = folder(
            "typo",
            &[
                "canary.yaml",
                "canary-bad-errors.yaml",
                "baseline.yaml",
                "ordering/mesh.cfn.yaml",
            ],
        );
        for (typed, meant) in [
            ("canry.yaml", "canary.yaml"),
            ("canary.yml", "canary.yaml"),
            ("Canary.yaml", "canary.yaml"),
            ("canary-bad-error.yaml", "canary-bad-errors.yaml"),
            ("basline.yaml", "baseline.yaml"),
            ("orderng/mesh.cfn.yaml", "ordering/mesh.cfn.yaml"),
            ("ordering/mesh.cfn.yml", "ordering/mesh.cfn.yaml"),
        ] {
            assert_eq!(
                similar_path(&dir.join(typed)),
                Some(dir.join(meant)),
                "{typed}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn nothing_alike_suggests_nothing() {
        let dir = folder("unlike", &["canary.yaml", "ordering/mesh.cfn.yaml"]);
        for typed in [
            "zzz.json",
            "retry-storm.yaml",
            "ordering/zzz.json",
            "nowhere/canary.yaml/x",
        ] {
            assert_eq!(similar_path(&dir.join(typed)), None, "{typed}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_help_names_the_path_as_the_user_wrote_its_folder() {
        let dir = folder("help", &["canary.yaml"]);
        let typed = dir.join("canry.yaml");
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(
            not_found_help(&typed, &missing),
            Some(format!(
                "did you mean `{}`?",
                dir.join("canary.yaml").display()
            ))
        );
        assert_eq!(not_found_help(&typed, &denied), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
