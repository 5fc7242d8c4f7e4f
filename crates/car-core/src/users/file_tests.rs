use chrono::{Duration, TimeZone, Utc};

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
}

#[test]
fn a_token_is_kept_hashed_and_checked_until_revoked_or_expired() {
    let dir = tempfile::tempdir().unwrap();
    let path = Users::file_of(dir.path());
    let made = Users::edit(&path, |u| {
        u.add_user("ann", Role::Operator, now())?;
        u.create_token(
            "ann",
            Scope::Tasks,
            Some("r1".into()),
            Some(now() + Duration::hours(1)),
            now(),
        )
    })
    .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let secret = made.token.rsplit('_').next().unwrap();
    assert!(!text.contains(secret), "the secret is not on disk");
    assert!(text.contains(&made.record.id));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let users = Users::load(&path).unwrap();
    let grant = users.verify(&made.token, now()).unwrap();
    assert_eq!(grant.user, "ann");
    assert_eq!(grant.scope, Scope::Tasks);
    assert_eq!(grant.repo.as_deref(), Some("r1"));
    let wrong = format!("{}0", &made.token[..made.token.len() - 1]);
    let wrong = if wrong == made.token {
        format!("{}1", &made.token[..made.token.len() - 1])
    } else {
        wrong
    };
    assert_eq!(users.verify(&wrong, now()), Err(Refused::Unknown));
    assert!(matches!(
        users.verify(&made.token, now() + Duration::hours(2)),
        Err(Refused::Expired(_))
    ));
    Users::edit(&path, |u| u.revoke(&made.record.id, now())).unwrap();
    let users = Users::load(&path).unwrap();
    assert!(matches!(
        users.verify(&made.token, now()),
        Err(Refused::Revoked(_))
    ));
}

#[test]
fn a_scope_wider_than_the_role_is_refused_and_removing_a_user_revokes_its_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let path = Users::file_of(dir.path());
    let err = Users::edit(&path, |u| {
        u.add_user("vic", Role::Viewer, now())?;
        u.create_token("vic", Scope::Reply, None, None, now())
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("at most the scope \"read\""),
        "{err}"
    );
    // The failed edit wrote nothing.
    assert!(!path.exists());
    let t = Users::edit(&path, |u| {
        u.add_user("vic", Role::Viewer, now())?;
        u.create_token("vic", Scope::Read, None, None, now())
    })
    .unwrap();
    let n = Users::edit(&path, |u| u.remove_user("vic", now())).unwrap();
    assert_eq!(n, 1);
    let users = Users::load(&path).unwrap();
    assert!(matches!(
        users.verify(&t.token, now()),
        Err(Refused::Revoked(_))
    ));
    assert!(users.users().is_empty());
}

#[test]
fn a_broken_file_names_itself() {
    let dir = tempfile::tempdir().unwrap();
    let path = Users::file_of(dir.path());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "{not json").unwrap();
    let err = Users::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("users.json is not a valid users file"),
        "{err}"
    );
}

#[test]
fn an_expiry_is_a_duration_a_time_or_never() {
    assert_eq!(
        parse_expiry("30d", now()).unwrap(),
        Some(now() + Duration::days(30))
    );
    assert_eq!(
        parse_expiry("2s", now()).unwrap(),
        Some(now() + Duration::seconds(2))
    );
    assert_eq!(parse_expiry("never", now()).unwrap(), None);
    assert_eq!(
        parse_expiry("2026-02-01T00:00:00Z", now()).unwrap(),
        Some(Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap())
    );
    for bad in ["", "30", "d", "0s", "3w", "-1d"] {
        assert!(parse_expiry(bad, now()).is_err(), "{bad}");
    }
}

#[test]
fn a_use_is_recorded_at_most_once_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let path = Users::file_of(dir.path());
    let t = Users::edit(&path, |u| {
        u.add_user("ann", Role::Admin, now())?;
        u.create_token("ann", Scope::Admin, None, None, now())
    })
    .unwrap();
    let id = &t.record.id;
    let gap = Duration::seconds(60);
    assert!(Users::touch(&path, id, now(), gap).unwrap());
    assert!(!Users::touch(&path, id, now() + Duration::seconds(30), gap).unwrap());
    let later = now() + Duration::seconds(90);
    assert!(Users::touch(&path, id, later, gap).unwrap());
    assert!(!Users::touch(&path, "000000000000", later, gap).unwrap());
    let users = Users::load(&path).unwrap();
    assert_eq!(users.tokens()[0].last_used_at, Some(later));
    // The token still checks out: a touch changes nothing else.
    assert!(users.verify(&t.token, later).is_ok());
}
