//! Importing photos, the gallery, tagging and describing photos.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clinshare_core::consent;
use clinshare_core::media::{
    self, ImportControl, ImportReport, MediaNotes, MediaSummary, Progress,
};
use clinshare_core::patients;
use clinshare_core::{IpcError, Store};
use serde::{Deserialize, Serialize};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, State};
use ts_rs::TS;

use super::ipc;
use crate::AppState;

#[derive(Debug, Deserialize, TS)]
pub struct GalleryRequest {
    /// A patient's photos; `null` for the Unassigned tray.
    #[ts(type = "number | null")]
    pub patient_id: Option<i64>,
}

/// One thumbnail in a gallery.
#[derive(Debug, Serialize, TS)]
pub struct GalleryItem {
    #[serde(flatten)]
    #[ts(flatten)]
    pub media: MediaSummary,
    /// Covered by a current consent to share for care. Photos in the
    /// Unassigned tray never are.
    pub shareable: bool,
}

/// Photos of one patient (or the tray), newest first.
#[tauri::command]
pub fn media_list(
    state: State<'_, AppState>,
    request: GalleryRequest,
) -> Result<Vec<GalleryItem>, IpcError> {
    state.as_clinician(|store, _| {
        let items = media::list(store, Some(request.patient_id)).map_err(ipc)?;
        let consents = match request.patient_id {
            Some(id) => consent::for_patient(store, id).map_err(ipc)?,
            None => Vec::new(),
        };
        let today = patients::today();
        Ok(items
            .into_iter()
            .map(|m| GalleryItem {
                shareable: consent::covers_sharing(&consents, &m.id, today),
                media: m,
            })
            .collect())
    })
}

#[derive(Debug, Deserialize, TS)]
pub struct AssignRequest {
    pub media_ids: Vec<String>,
    #[ts(type = "number")]
    pub patient_id: i64,
}

/// Tag photos to a patient (all or nothing; audited).
#[tauri::command]
pub fn media_assign(state: State<'_, AppState>, request: AssignRequest) -> Result<(), IpcError> {
    state.as_clinician(|store, actor| {
        media::assign(store, actor, &request.media_ids, request.patient_id).map_err(ipc)
    })
}

#[derive(Debug, Deserialize, TS)]
pub struct AnnotateRequest {
    pub media_id: String,
    pub notes: MediaNotes,
}

/// Set a photo's body site and notes (audited).
#[tauri::command]
pub fn media_annotate(
    state: State<'_, AppState>,
    request: AnnotateRequest,
) -> Result<(), IpcError> {
    state.as_clinician(|store, actor| {
        media::annotate(store, actor, &request.media_id, request.notes).map_err(ipc)
    })
}

#[derive(Debug, Deserialize, TS)]
pub struct ImportRequest {
    /// Files and folders, as dropped or picked.
    pub paths: Vec<String>,
    /// Tag to this patient; `null` puts the photos in the Unassigned tray.
    #[ts(type = "number | null")]
    pub patient_id: Option<i64>,
    /// Delete each original (a camera card's) once it is safely stored.
    pub delete_originals: bool,
}

fn busy() -> IpcError {
    IpcError {
        code: "import.busy".into(),
        message: "An import is already running. Wait for it to finish, or cancel it.".into(),
    }
}

/// Import files and folders in the background on every core. Progress
/// arrives on `on_progress`; the report comes back at the end.
#[tauri::command]
pub async fn import_files(
    app: AppHandle,
    request: ImportRequest,
    on_progress: Channel<Progress>,
) -> Result<ImportReport, IpcError> {
    let state = app.state::<AppState>();
    // Checked (and the idle timer restarted) before any work starts.
    let actor = state.as_clinician(|_, actor| Ok(actor.clone()))?;
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let mut running = state.import.lock().unwrap_or_else(|p| p.into_inner());
        if running.is_some() {
            return Err(busy());
        }
        *running = Some(cancel.clone());
    }
    let data_dir = state.data_dir.clone();
    let handle = app.clone();
    let result = tauri::async_runtime::spawn_blocking(move || {
        let state = handle.state::<AppState>();
        // A connection of its own, so the gallery stays usable meanwhile.
        let mut store = Store::open(&data_dir, &state.vault).map_err(ipc)?;
        let paths: Vec<PathBuf> = request.paths.iter().map(PathBuf::from).collect();
        Ok::<_, IpcError>(media::import_paths_with(
            &mut store,
            &actor,
            &paths,
            request.patient_id,
            ImportControl {
                cancel: &cancel,
                // A closed channel (window reloaded) must not stop the import.
                progress: &mut |p| drop(on_progress.send(p)),
                workers: 0,
                delete_originals: request.delete_originals,
            },
        ))
    })
    .await;
    *state.import.lock().unwrap_or_else(|p| p.into_inner()) = None;
    result.map_err(|e| IpcError {
        code: "import.failed".into(),
        message: format!("The import stopped unexpectedly ({e}). Nothing half-imported was kept."),
    })?
}

/// Cancel the running import; photos already stored stay stored.
#[tauri::command]
pub fn import_cancel(state: State<'_, AppState>) {
    if let Some(flag) = state
        .import
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
    {
        flag.store(true, Ordering::Relaxed);
    }
}

#[derive(Debug, Deserialize, TS)]
pub struct PickRequest {
    /// Pick one folder (a camera card) instead of files.
    pub folder: bool,
}

/// Show the system's file chooser; the chosen paths (none if cancelled).
/// The chooser runs in the shell, so the window needs no file-system or
/// dialog permission of its own.
#[tauri::command]
pub async fn pick_files(app: AppHandle, request: PickRequest) -> Result<Vec<String>, IpcError> {
    use tauri_plugin_dialog::DialogExt;
    app.state::<AppState>().as_clinician(|_, _| Ok(()))?;
    let dialog = app.dialog().file().set_title(if request.folder {
        "Choose a folder or camera card to import"
    } else {
        "Choose photos to import"
    });
    let picked = tauri::async_runtime::spawn_blocking(move || {
        if request.folder {
            dialog
                .blocking_pick_folder()
                .into_iter()
                .collect::<Vec<_>>()
        } else {
            dialog
                .add_filter(
                    "Photos and videos",
                    &[
                        "jpg", "jpeg", "png", "webp", "heic", "heif", "avif", "tif", "tiff", "mp4",
                        "mov", "3gp",
                    ],
                )
                .blocking_pick_files()
                .unwrap_or_default()
        }
    })
    .await
    .map_err(|e| IpcError {
        code: "import.picker_failed".into(),
        message: format!("The file chooser could not be shown ({e})."),
    })?;
    Ok(picked
        .into_iter()
        .filter_map(|p| p.into_path().ok())
        .map(|p| p.to_string_lossy().into_owned())
        .collect())
}

#[derive(Debug, Deserialize, TS)]
pub struct SmallerCopyRequest {
    pub media_id: String,
    /// The recipient team's limit, from the directory.
    #[ts(type = "number")]
    pub max_bytes: u64,
}

/// A copy of a photo no larger than the recipient takes (a new, sanitised
/// JPEG of the same patient; the original stays). Its id.
#[tauri::command]
pub fn media_smaller_copy(
    state: State<'_, AppState>,
    request: SmallerCopyRequest,
) -> Result<String, IpcError> {
    state.as_clinician(|store, actor| {
        media::smaller_copy(store, actor, &request.media_id, request.max_bytes).map_err(ipc)
    })
}
