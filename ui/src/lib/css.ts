// The CSP allows no inline styles (`style-src 'self'`), so a `style`
// attribute would be refused. Computed positions and transforms are set
// through the CSSOM instead, which the CSP permits.
export function css(node: HTMLElement, styles: Record<string, string>) {
  const apply = (next: Record<string, string>) => {
    for (const [key, value] of Object.entries(next)) node.style.setProperty(key, value)
  }
  apply(styles)
  return { update: apply }
}
