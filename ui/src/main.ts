import { mount } from 'svelte'
import './app.scss'
import App from './App.svelte'

const target = document.getElementById('app')
if (!target) {
  throw new Error('ClinShare: #app element missing from index.html')
}

export default mount(App, { target })
