import { describe, expect, it } from 'vitest'
import { pinGroups } from './pin'

describe('pinGroups', () => {
  it('shows a pin in lower-case groups of four, whatever was pasted', () => {
    expect(pinGroups('ABCD:ef01 2345-6789')).toBe('abcd ef01 2345 6789')
    expect(pinGroups('abcdef')).toBe('abcd ef')
    expect(pinGroups('')).toBe('')
  })
})
