// Generated from the Rust command table (src-tauri/src/ipc); do not edit.
import { Channel, invoke } from "@tauri-apps/api/core";
import type { AnnotateRequest } from "./AnnotateRequest";
import type { AssignRequest } from "./AssignRequest";
import type { AuditEntry } from "./AuditEntry";
import type { AuditRequest } from "./AuditRequest";
import type { Confirmation } from "./Confirmation";
import type { Consent } from "./Consent";
import type { ConsentRequest } from "./ConsentRequest";
import type { DirectoryView } from "./DirectoryView";
import type { DraftRequest } from "./DraftRequest";
import type { EditPatientRequest } from "./EditPatientRequest";
import type { EnrolRequest } from "./EnrolRequest";
import type { GalleryItem } from "./GalleryItem";
import type { GalleryRequest } from "./GalleryRequest";
import type { IdleLockRequest } from "./IdleLockRequest";
import type { ImportReport } from "./ImportReport";
import type { ImportRequest } from "./ImportRequest";
import type { InboxDetail } from "./InboxDetail";
import type { InboxEntry } from "./InboxEntry";
import type { InboxRef } from "./InboxRef";
import type { NewPatientRequest } from "./NewPatientRequest";
import type { OutboxRequest } from "./OutboxRequest";
import type { Patient } from "./Patient";
import type { PatientRecord } from "./PatientRecord";
import type { PatientRef } from "./PatientRef";
import type { PatientSearch } from "./PatientSearch";
import type { PickRequest } from "./PickRequest";
import type { Progress } from "./Progress";
import type { Referral } from "./Referral";
import type { ReferralRef } from "./ReferralRef";
import type { RetentionRequest } from "./RetentionRequest";
import type { ServerStatus } from "./ServerStatus";
import type { SessionState } from "./SessionState";
import type { Settings } from "./Settings";
import type { SetupRequest } from "./SetupRequest";
import type { SignInRequest } from "./SignInRequest";
import type { SmallerCopyRequest } from "./SmallerCopyRequest";
import type { StoreStatus } from "./StoreStatus";
import type { SyncStatus } from "./SyncStatus";
import type { UnlockRequest } from "./UnlockRequest";
import type { VerifyReport } from "./VerifyReport";
import type { WithdrawRequest } from "./WithdrawRequest";

/** Where the encrypted store is and whether it is open. */
export function storeStatus(): Promise<StoreStatus> {
  return invoke("store_status");
}

/** Create the encrypted store and its first clinician account. */
export function createStore(request: SetupRequest): Promise<StoreStatus> {
  return invoke("create_store", { request });
}

/** Tell the shell the first screen has been painted (start-up timing). */
export function reportFirstPaint(): Promise<void> {
  return invoke("report_first_paint");
}

/** Who is signed in, and whether the app is locked. */
export function sessionState(): Promise<SessionState> {
  return invoke("session_state");
}

/** Sign in with a name and passphrase (attempts are audited and throttled). */
export function signIn(request: SignInRequest): Promise<SessionState> {
  return invoke("sign_in", { request });
}

/** End the session (audited). */
export function signOut(): Promise<SessionState> {
  return invoke("sign_out");
}

/** Lock the app now (audited); the screens show nothing of any patient. */
export function lockSession(): Promise<SessionState> {
  return invoke("lock_session");
}

/** Unlock with the signed-in clinician's passphrase. */
export function unlockSession(request: UnlockRequest): Promise<SessionState> {
  return invoke("unlock_session", { request });
}

/** The screen saw keyboard or pointer input: restart the idle timer. */
export function sessionActivity(): Promise<void> {
  return invoke("session_activity");
}

/** Find patients by name or identifier (audited as a view). */
export function patientSearch(request: PatientSearch): Promise<Array<Patient>> {
  return invoke("patient_search", { request });
}

/** Register a patient; the identifier is checked and must be confirmed. */
export function patientCreate(request: NewPatientRequest): Promise<Patient> {
  return invoke("patient_create", { request });
}

/** Open one patient's record: details and consents (audited as a view). */
export function patientGet(request: PatientRef): Promise<PatientRecord> {
  return invoke("patient_get", { request });
}

/** Change a patient's details (audited); the earlier details are kept. */
export function patientEdit(request: EditPatientRequest): Promise<Patient> {
  return invoke("patient_edit", { request });
}

/** Photos of one patient (or the tray), newest first. */
export function mediaList(request: GalleryRequest): Promise<Array<GalleryItem>> {
  return invoke("media_list", { request });
}

/** Tag photos to a patient (all or nothing; audited). */
export function mediaAssign(request: AssignRequest): Promise<void> {
  return invoke("media_assign", { request });
}

/** Set a photo's body site and notes (audited). */
export function mediaAnnotate(request: AnnotateRequest): Promise<void> {
  return invoke("media_annotate", { request });
}

/** Import files and folders in the background on every core. Progress arrives on `on_progress`; the report comes back at the end. */
export function importFiles(request: ImportRequest, onProgress: Channel<Progress>): Promise<ImportReport> {
  return invoke("import_files", { request, onProgress });
}

/** Cancel the running import; photos already stored stay stored. */
export function importCancel(): Promise<void> {
  return invoke("import_cancel");
}

/** Show the system's file chooser; the chosen paths (none if cancelled). */
export function pickFiles(request: PickRequest): Promise<Array<string>> {
  return invoke("pick_files", { request });
}

/** A copy of a photo no larger than the recipient takes (a new, sanitised JPEG of the same patient; the original stays). Its id. */
export function mediaSmallerCopy(request: SmallerCopyRequest): Promise<string> {
  return invoke("media_smaller_copy", { request });
}

/** Record a consent (audited). */
export function consentRecord(request: ConsentRequest): Promise<Consent> {
  return invoke("consent_record", { request });
}

/** Withdraw a consent, with the reason (audited; final). */
export function consentWithdraw(request: WithdrawRequest): Promise<Consent> {
  return invoke("consent_withdraw", { request });
}

/** The newest audit entries, newest first. */
export function auditRecent(request: AuditRequest): Promise<Array<AuditEntry>> {
  return invoke("audit_recent", { request });
}

/** Check the whole hash chain, as `clinshare audit verify` does. */
export function auditVerify(): Promise<VerifyReport> {
  return invoke("audit_verify");
}

/** The store's settings. */
export function settingsGet(): Promise<Settings> {
  return invoke("settings_get");
}

/** Change the idle lock (audited); applies at once. */
export function settingsSetIdleLock(request: IdleLockRequest): Promise<Settings> {
  return invoke("settings_set_idle_lock", { request });
}

/** Change how long sent photos stay on the laptop (audited). */
export function settingsSetRetention(request: RetentionRequest): Promise<Settings> {
  return invoke("settings_set_retention", { request });
}

/** The enrolled server, the directory's age and the last sync. */
export function serverGet(): Promise<ServerStatus> {
  return invoke("server_get");
}

/** Enrol this laptop with the approved server (audited); the device key stays in the OS keyring. */
export function serverEnrol(request: EnrolRequest): Promise<ServerStatus> {
  return invoke("server_enrol", { request });
}

/** The recipients in the cached, signature-checked directory. */
export function directoryGet(): Promise<DirectoryView> {
  return invoke("directory_get");
}

/** Keep a draft referral (new or changed); nothing is sent. */
export function referralSaveDraft(request: DraftRequest): Promise<Referral> {
  return invoke("referral_save_draft", { request });
}

/** Throw a draft away. */
export function referralDiscard(request: ReferralRef): Promise<void> {
  return invoke("referral_discard", { request });
}

/** The outbox: referrals, newest first, with their states and reasons. */
export function referralList(request: OutboxRequest): Promise<Array<Referral>> {
  return invoke("referral_list", { request });
}

/** The sentence to confirm before a draft is queued. */
export function referralConfirmation(request: ReferralRef): Promise<Confirmation> {
  return invoke("referral_confirmation", { request });
}

/** The clinician confirmed: queue the referral (audited) and send soon. */
export function referralQueue(request: ReferralRef): Promise<Referral> {
  return invoke("referral_queue", { request });
}

/** Try the outbox now rather than at the next minute. */
export function syncNow(): Promise<SyncStatus> {
  return invoke("sync_now");
}

/** Referrals delivered to my teams (fetched from the approved server). */
export function inboxList(): Promise<Array<InboxEntry>> {
  return invoke("inbox_list");
}

/** Open a referral (audited) and bring its photos into the store. */
export function inboxOpen(request: InboxRef): Promise<InboxDetail> {
  return invoke("inbox_open", { request });
}

/** Acknowledge a referral for the team (audited here and on the server). */
export function inboxAck(request: InboxRef): Promise<InboxEntry> {
  return invoke("inbox_ack", { request });
}
