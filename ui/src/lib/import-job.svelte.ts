// The running import, shared by the screens that start one and the panel
// that shows its progress. One import runs at a time (the shell refuses a
// second), so this is a single piece of state.
import { Channel } from '@tauri-apps/api/core'
import { importCancel, importFiles } from './bindings/commands'
import type { ImportReport } from './bindings/ImportReport'
import type { IpcError } from './bindings/IpcError'
import type { Progress } from './bindings/Progress'
import { toIpcError } from './ipc-error'

export type FileStage = 'waiting' | 'preparing' | 'storing' | 'imported' | 'duplicate' | 'rejected'

export type FileRow = { index: number; name: string; stage: FileStage; message?: string }

class ImportJob {
  running = $state(false)
  cancelling = $state(false)
  /** Where the photos go, as shown: a patient's name or "Unassigned". */
  target = $state('')
  total = $state(0)
  done = $state(0)
  files = $state<FileRow[]>([])
  report = $state<ImportReport | null>(null)
  error = $state<IpcError | null>(null)
  /** Bumped when an import ends, so galleries reload. */
  finished = $state(0)

  apply(p: Progress): void {
    switch (p.event) {
      case 'found':
        this.total = p.total
        break
      case 'preparing':
        this.row(p.index, p.name).stage = 'preparing'
        break
      case 'storing':
        this.row(p.index).stage = 'storing'
        break
      case 'finished': {
        const row = this.row(p.index, p.name)
        row.stage = p.outcome.status
        row.message = p.outcome.status === 'rejected' ? p.outcome.message : undefined
        this.done = p.done
        this.total = p.total
        break
      }
    }
  }

  private row(index: number, name?: string): FileRow {
    let row = this.files.find((f) => f.index === index)
    if (!row) {
      this.files.push({ index, name: name ?? '', stage: 'waiting' })
      row = this.files[this.files.length - 1]
    } else if (name) {
      row.name = name
    }
    return row
  }

  async start(
    paths: string[],
    patientId: number | null,
    target: string,
    deleteOriginals = false,
  ): Promise<ImportReport | null> {
    if (this.running || paths.length === 0) return null
    this.running = true
    this.cancelling = false
    this.target = target
    this.total = 0
    this.done = 0
    this.files = []
    this.report = null
    this.error = null
    const channel = new Channel<Progress>()
    channel.onmessage = (p) => this.apply(p)
    try {
      this.report = await importFiles(
        { paths, patient_id: patientId, delete_originals: deleteOriginals },
        channel,
      )
    } catch (reason) {
      this.error = toIpcError(reason)
    } finally {
      this.running = false
      this.finished += 1
    }
    return this.report
  }

  async cancel(): Promise<void> {
    this.cancelling = true
    await importCancel().catch(() => {})
  }

  dismiss(): void {
    this.report = null
    this.error = null
    this.files = []
  }
}

export const importJob = new ImportJob()
