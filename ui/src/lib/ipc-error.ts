import type { IpcError } from './bindings/IpcError'

/** Code used when a command failed without an `IpcError` from the shell. */
export const IPC_FAILED = 'ipc.failed'

function isIpcError(value: unknown): value is IpcError {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Record<string, unknown>).code === 'string' &&
    typeof (value as Record<string, unknown>).message === 'string'
  )
}

/**
 * Commands reject with an `IpcError`; anything else (a missing command, a
 * broken bridge) is turned into one so the screens have one shape to show.
 */
export function toIpcError(reason: unknown): IpcError {
  if (isIpcError(reason)) {
    return { code: reason.code, message: reason.message }
  }
  const detail = reason instanceof Error ? reason.message : String(reason)
  return {
    code: IPC_FAILED,
    message:
      'ClinShare could not reach its secure store service. Close ClinShare and open it again; ' +
      `if that does not help, contact your IT service desk. (${detail})`,
  }
}
