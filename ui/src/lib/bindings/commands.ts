// Generated from the Rust command table (src-tauri/src/ipc); do not edit.
import { invoke } from "@tauri-apps/api/core";
import type { SetupRequest } from "./SetupRequest";
import type { StoreStatus } from "./StoreStatus";

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
