import { describe, expect, it } from 'vitest'
import { fieldForPatientError } from './patient-errors'

describe('refusals point at the field to fix', () => {
  it.each([
    ['identifier.check_digit', '', 'patient-identifier'],
    ['identifier.confirmation_mismatch', '', 'patient-identifier-again'],
    ['identifier.chi_dob_mismatch', '', 'patient-dob'],
    ['patient.duplicate_identifier', '', 'patient-identifier'],
    ['patient.invalid_name', "Enter the patient's family name", 'patient-family'],
    ['patient.invalid_name', "Enter the patient's given name", 'patient-given'],
    ['store.damaged', '', undefined],
  ])('%s', (code, message, field) => {
    expect(fieldForPatientError({ code, message })).toBe(field)
  })
})
