import type { IpcError } from './bindings/IpcError'

/** Which field of the "add patient" form a refusal from the store is about. */
export function fieldForPatientError(error: IpcError): string | undefined {
  switch (error.code) {
    case 'identifier.confirmation_mismatch':
    case 'patient.identifier_unconfirmed':
      return 'patient-identifier-again'
    case 'identifier.chi_dob_mismatch':
    case 'patient.invalid_date':
    case 'patient.future_date_of_birth':
    case 'patient.implausible_date_of_birth':
      return 'patient-dob'
    case 'identifier.kind_required':
      return 'patient-kind-nhs'
    case 'patient.invalid_name':
      return error.message.includes('family') ? 'patient-family' : 'patient-given'
  }
  return error.code.startsWith('identifier.') || error.code === 'patient.duplicate_identifier'
    ? 'patient-identifier'
    : undefined
}
