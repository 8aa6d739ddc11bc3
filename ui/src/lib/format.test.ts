import { describe, expect, it } from 'vitest'
import { fileSize, isoFromTyped, mediaUrl, ukDate, ukDateTime } from './format'

describe('UK formats', () => {
  it('shows dates of birth as DD/MM/YYYY', () => {
    expect(ukDate('1972-04-15')).toBe('15/04/1972')
    expect(ukDate('')).toBe('')
    expect(ukDate('not a date')).toBe('not a date')
  })

  it('shows times as day, short month, year and 24-hour time', () => {
    expect(ukDateTime('2026-11-29T14:03:07Z')).toBe('29 Nov 2026, 14:03')
    expect(ukDateTime('2024-01-05T08:09:00')).toBe('5 Jan 2024, 08:09')
    expect(ukDateTime(null)).toBe('')
    expect(ukDateTime('2024-13-05T08:09:00')).toBe('2024-13-05T08:09:00')
  })

  it('reads typed UK dates', () => {
    expect(isoFromTyped('15/04/1972')).toBe('1972-04-15')
    expect(isoFromTyped(' 5-4-1972 ')).toBe('1972-04-05')
    expect(isoFromTyped('1972-04-15')).toBe('1972-04-15')
    expect(isoFromTyped('15/04/72')).toBeNull()
  })

  it('sizes and media addresses', () => {
    expect(fileSize(900)).toBe('900 bytes')
    expect(fileSize(3 * 1024 * 1024 + 300_000)).toBe('3.3 MB')
    expect(mediaUrl('thumb', 'ab12')).toBe('media://localhost/thumb/ab12')
  })
})
