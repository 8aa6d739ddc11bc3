//! The `media:` URI scheme: the only way pictures reach the webview.
//!
//! `media://localhost/thumb/<id>` and `media://localhost/full/<id>` (and
//! `media://localhost/inbox/<referral>/<sha256>` for a received referral's
//! photos) stream from the encrypted store, so no picture is ever a file, and every response
//! says `no-store` so the webview keeps none in its disk cache. Nothing is
//! served while signed out or locked, and viewing a full picture is audited.

use clinshare_core::{inbox, media};
use tauri::http::{header, Request, Response, StatusCode};
use tauri::{AppHandle, Manager};

use crate::ipc::ipc;
use crate::AppState;

pub const SCHEME: &str = "media";

enum Picture {
    Thumbnail,
    Full,
    /// A photo of a received referral, by referral id (the SHA-256 is
    /// the id beside it).
    Inbox(String),
}

/// Answer one request (called off the main thread).
pub fn respond(app: &AppHandle, request: &Request<Vec<u8>>) -> Response<Vec<u8>> {
    let Some((picture, id)) = parse(request.uri().path()) else {
        return empty(StatusCode::NOT_FOUND);
    };
    let state = app.state::<AppState>();
    // Thumbnails (the many small requests of a gallery) are always JPEG:
    // only a full picture needs its format looked up.
    let found = state.as_clinician(|store, actor| match picture {
        Picture::Thumbnail => Ok(media::thumbnail(store, &id)
            .map_err(ipc)?
            .map(|b| (b, "image/jpeg"))),
        Picture::Full => {
            let format = media::format_of(store, &id).map_err(ipc)?;
            let bytes = media::bytes(store, actor, &id).map_err(ipc)?;
            Ok(bytes.zip(format).map(|(b, f)| media::viewable(b, &f)))
        }
        // Downloaded and checked when the referral was opened (audited then).
        Picture::Inbox(referral) => Ok(inbox::cached_with_format(store, &referral, &id)
            .map_err(ipc)?
            .map(|(bytes, format)| media::viewable(bytes, &format))),
    });
    match found {
        Ok(Some((bytes, mime))) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, mime)
            .header(header::CACHE_CONTROL, "no-store")
            .header("X-Content-Type-Options", "nosniff")
            .body(bytes)
            .unwrap_or_else(|_| empty(StatusCode::INTERNAL_SERVER_ERROR)),
        Ok(None) => empty(StatusCode::NOT_FOUND),
        // Signed out or locked: the picture is not shown.
        Err(_) => empty(StatusCode::FORBIDDEN),
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn parse(path: &str) -> Option<(Picture, String)> {
    let (kind, id) = path.trim_start_matches('/').split_once('/')?;
    if kind == "inbox" {
        let (referral, sha256) = id.split_once('/')?;
        return (is_hex(referral, 32) && is_hex(sha256, 64))
            .then(|| (Picture::Inbox(referral.to_owned()), sha256.to_owned()));
    }
    let picture = match kind {
        "thumb" => Picture::Thumbnail,
        "full" => Picture::Full,
        _ => return None,
    };
    is_hex(id, 32).then(|| (picture, id.to_owned()))
}

fn empty(status: StatusCode) -> Response<Vec<u8>> {
    let mut response = Response::new(Vec::new());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}
