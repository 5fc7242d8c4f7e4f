//! `car notify test`: a test message through every configured provider.

use anyhow::Result;

use crate::cli::Global;

/// `car notify test`.
pub(super) fn test(g: &Global, provider: Option<&str>) -> Result<u8> {
    let repo = super::load(g, &[])?;
    let results = repo.notify_test(provider);
    if results.is_empty() {
        outln!(
            "car: no notification provider is configured; set CAR_NTFY_TOPIC (ntfy), CAR_TELEGRAM_BOT_TOKEN and CAR_TELEGRAM_CHAT_ID, CAR_DISCORD_WEBHOOK_URL or CAR_WEBHOOK_URL"
        );
        return Ok(crate::EXIT_FAILURE);
    }
    let mut ok = true;
    for (name, r) in &results {
        match r {
            Ok(Some(id)) => outln!("{name:<9} ok (message {id})"),
            Ok(None) => outln!("{name:<9} ok"),
            Err(e) => {
                ok = false;
                outln!("{name:<9} FAILED: {e}");
            }
        }
    }
    Ok(if ok {
        crate::EXIT_OK
    } else {
        crate::EXIT_FAILURE
    })
}
