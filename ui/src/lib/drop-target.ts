// Where dropped files go: onto a patient (an element marked with
// data-drop-patient under the pointer) or, anywhere else, the Unassigned tray.
// Dropped on a referral being composed (data-drop-referral), they are also
// attached to it once imported through the sanitiser.

export type DropTarget = { patientId: number | null; label: string; attach: boolean }

/** `x`, `y` in CSS pixels within the window. */
export function dropTargetAt(x: number, y: number, doc: Document = document): DropTarget {
  const under = doc.elementFromPoint?.(x, y)
  const el = under?.closest<HTMLElement>('[data-drop-patient]')
  const id = el ? Number(el.dataset.dropPatient) : NaN
  if (el && Number.isInteger(id)) {
    const attach = !!under?.closest('[data-drop-referral]')
    return { patientId: id, label: el.dataset.dropLabel ?? 'this patient', attach }
  }
  return { patientId: null, label: 'Unassigned', attach: false }
}
