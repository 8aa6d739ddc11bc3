import { describe, expect, it } from 'vitest'
import { matchRecipients } from './recipients'

const directory = [
  { team_id: 'tv', name: 'Tissue Viability', organisation: 'NHS Lanarkshire', clinicians: ['Anna Smith'], max_file_bytes: null },
  { team_id: 'derm', name: 'Dermatology', organisation: 'NHS Lothian', clinicians: [], max_file_bytes: null },
]

describe('matchRecipients', () => {
  it('offers the whole directory before anything is typed', () => {
    expect(matchRecipients(directory, '  ').map((r) => r.team_id)).toEqual(['tv', 'derm'])
  })

  it('matches every word against team, organisation and clinicians, ignoring case', () => {
    expect(matchRecipients(directory, 'tiss lanark').map((r) => r.team_id)).toEqual(['tv'])
    expect(matchRecipients(directory, 'smith').map((r) => r.team_id)).toEqual(['tv'])
    expect(matchRecipients(directory, 'LOTHIAN').map((r) => r.team_id)).toEqual(['derm'])
  })

  it('offers nothing for a name that is not in the directory', () => {
    expect(matchRecipients(directory, 'whatsapp group')).toEqual([])
  })
})
