//! The user's car config file (`$XDG_CONFIG_HOME/car/config.yml`) and
//! adding a machine to it.

use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use super::MachineError;
use super::config::{Machine, parse_file};
use crate::fs_util::IoResultExt;

/// The user's car config file: `$XDG_CONFIG_HOME/car/config.yml`, else
/// `$HOME/.config/car/config.yml` (empty values count as unset).
pub fn user_config_file(
    xdg_config_home: Option<&Path>,
    home: Option<&Path>,
) -> Result<PathBuf, MachineError> {
    let base = match (
        xdg_config_home.filter(|p| p.is_absolute()),
        home.filter(|p| !p.as_os_str().is_empty()),
    ) {
        (Some(x), _) => x.to_path_buf(),
        (None, Some(h)) => h.join(".config"),
        (None, None) => {
            return Err(MachineError::NoHome {
                what: "config",
                var: "XDG_CONFIG_HOME",
            });
        }
    };
    Ok(base.join("car").join("config.yml"))
}

/// Writes `machine` as `machines.<name>` of the file at `path` (made when
/// missing), replacing an entry of that name and keeping the file's other
/// keys; atomic: readers see the old file or the new one. Comments are not
/// kept (the file is written again from its values).
pub fn add_machine(path: &Path, machine: &Machine) -> Result<(), MachineError> {
    // The entry must read back as it is meant (a bad name or value fails here).
    let entry = machine.to_value();
    Machine::from_value(&machine.name, &entry, path)?;
    let mut doc = match crate::fs_util::read_optional(path)? {
        Some(bytes) => parse_file(&bytes, path)?,
        None => Value::Null,
    };
    if doc.is_null() {
        doc = Value::Mapping(Mapping::new());
    }
    let Value::Mapping(top) = &mut doc else {
        return Err(MachineError::Bad {
            path: path.to_path_buf(),
            key: "(top level)".into(),
            message: "must be a mapping".into(),
        });
    };
    let section = top
        .entry(Value::String("machines".into()))
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if section.is_null() {
        *section = Value::Mapping(Mapping::new());
    }
    let Value::Mapping(section) = section else {
        return Err(MachineError::Bad {
            path: path.to_path_buf(),
            key: "machines".into(),
            message: "must be a mapping of machine names to entries".into(),
        });
    };
    section.insert(Value::String(machine.name.clone()), entry);
    let text = serde_yaml::to_string(&doc).map_err(|e| MachineError::Syntax {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_path("cannot create", dir)?;
    }
    crate::fs_util::write_atomic(path, text.as_bytes())?;
    Ok(())
}

/// The files machines are read from, in increasing precedence: the user's
/// config file, then the root `codex-autorunner.yml` of the repository that
/// contains `start` (when there is one).
pub fn machine_files(user_file: &Path, start: &Path) -> Vec<PathBuf> {
    let mut files = vec![user_file.to_path_buf()];
    if let Some(paths) = crate::paths::RepoPaths::discover(start) {
        files.push(paths.root.join("codex-autorunner.yml"));
    }
    files
}
