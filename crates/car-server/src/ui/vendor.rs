//! The third-party files of the UI (xterm.js and its fit addon) are
//! committed under `ui/vendor/`, as `scripts/vendor-ui.sh` fetched them
//! from the npm registry; `ui/vendor/manifest.json` pins each package's
//! version, license and tarball integrity, and each file's sha256. The
//! test here holds the committed (and embedded) files to that manifest.

#[cfg(test)]
mod tests {
    use std::path::Path;

    use sha2::{Digest, Sha256};

    #[test]
    fn vendored_files_match_their_manifest() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/vendor");
        let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
        let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
        let packages = manifest["packages"].as_array().unwrap();
        assert!(!packages.is_empty());
        for pkg in packages {
            let name = pkg["name"].as_str().unwrap();
            for key in ["version", "license", "integrity", "dir"] {
                assert!(
                    pkg[key].as_str().is_some_and(|v| !v.is_empty()),
                    "{name}: no {key} in the manifest"
                );
            }
            let files = pkg["files"].as_array().unwrap();
            assert!(
                files.iter().any(|f| f["to"] == "LICENSE"),
                "{name}: its LICENSE is not vendored"
            );
            for f in files {
                let path = dir
                    .join(pkg["dir"].as_str().unwrap())
                    .join(f["to"].as_str().unwrap());
                let bytes = std::fs::read(&path).unwrap_or_else(|e| {
                    panic!("{}: {e} (run scripts/vendor-ui.sh)", path.display())
                });
                let got: String = Sha256::digest(&bytes)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                assert_eq!(
                    got,
                    f["sha256"].as_str().unwrap(),
                    "{} does not match ui/vendor/manifest.json (run scripts/vendor-ui.sh)",
                    path.display()
                );
            }
        }
    }
}
