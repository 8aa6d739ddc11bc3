import type { BodySite } from './bindings/BodySite'

// A Record over the generated union: adding a site in Rust without a label
// here fails the type check.
const LABELS: Record<BodySite, string> = {
  sacrum: 'Sacrum',
  left_heel: 'Left heel',
  right_heel: 'Right heel',
  left_foot: 'Left foot',
  right_foot: 'Right foot',
  left_lower_leg: 'Left lower leg',
  right_lower_leg: 'Right lower leg',
  left_hip: 'Left hip',
  right_hip: 'Right hip',
  left_buttock: 'Left buttock',
  right_buttock: 'Right buttock',
  abdomen: 'Abdomen',
  chest: 'Chest',
  back: 'Back',
  left_arm: 'Left arm',
  right_arm: 'Right arm',
  left_hand: 'Left hand',
  right_hand: 'Right hand',
  head_and_face: 'Head and face',
  other: 'Other',
}

/** The coded body sites, in the order the picker lists them. */
export const BODY_SITES = (Object.keys(LABELS) as BodySite[]).map((code) => ({
  code,
  label: LABELS[code],
}))

export function siteLabel(code: BodySite): string {
  return LABELS[code] ?? code
}
