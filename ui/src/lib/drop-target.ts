// Where dropped files go: onto a patient (an element marked with
// data-drop-patient under the pointer) or, anywhere else, the Unassigned tray.

export type DropTarget = { patientId: number | null; label: string }

/** `x`, `y` in CSS pixels within the window. */
export function dropTargetAt(x: number, y: number, doc: Document = document): DropTarget {
  const el = doc.elementFromPoint?.(x, y)?.closest<HTMLElement>('[data-drop-patient]')
  const id = el ? Number(el.dataset.dropPatient) : NaN
  if (el && Number.isInteger(id)) {
    return { patientId: id, label: el.dataset.dropLabel ?? 'this patient' }
  }
  return { patientId: null, label: 'Unassigned' }
}
