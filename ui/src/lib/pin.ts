// A key pin is 64 hex digits; people compare it in groups of four.
export function pinGroups(pin: string): string {
  const hex = pin.replace(/[^0-9a-fA-F]/g, '').toLowerCase()
  return (hex.match(/.{1,4}/g) ?? []).join(' ')
}
