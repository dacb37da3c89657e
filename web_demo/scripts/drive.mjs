#!/usr/bin/env node
// Drives the page in headless Chromium (playwright-core + Debian's chromium): runs
// benchmarks through `window.lcnetDemo.benchmark`, optionally clicks "run" and takes a
// screenshot of the result view, then moves the budget knob's slider; prints one JSON object
// on stdout.
//
//   node web_demo/scripts/drive.mjs --url http://127.0.0.1:8000/ \
//       [--calls calls.json] [--ui] [--screenshot shot.png [--clip-height 1400]]
//       [--budgets max,0.8,min,default [--knob-screenshot knob.png]]
//       [--chromium /usr/bin/chromium]
//
// calls.json: a list of option objects for benchmark() (see web_demo/src/main.js); one with
// "expectError": true gives {error: "<name>: <message>"} (null if it ran) instead of a result.
// --budgets: slider moves, in order, each followed by the run it starts: "min" / "max" press
// Home / End on the focused slider, a number sets its value and fires its input and change
// events (as a drag ends), "default" clicks the default button.
// Used by tests/apps/test_web_demo.py and benchmarks/web_vs_native.py.

import {readFileSync} from 'node:fs';
import {parseArgs} from 'node:util';

import {chromium} from 'playwright-core';

// As the issue and the machine notes ask: no sandbox (root), no GPU, and none of
// Chromium's background connections (this machine's network is closed).
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
];

const {values: args} = parseArgs({
  options: {
    url: {type: 'string'},
    calls: {type: 'string'},
    ui: {type: 'boolean', default: false},
    screenshot: {type: 'string'},
    'clip-height': {type: 'string'},
    budgets: {type: 'string'},
    'knob-screenshot': {type: 'string'},
    chromium: {type: 'string', default: process.env.CHROMIUM ?? '/usr/bin/chromium'},
    timeout: {type: 'string', default: '300000'},
  },
});
if (!args.url) {
  console.error('usage: drive.mjs --url URL [--calls FILE] [--ui] [--screenshot PNG]');
  process.exit(2);
}
const timeout = Number(args.timeout);
const calls = args.calls ? JSON.parse(readFileSync(args.calls, 'utf8')) : [];

const browser = await chromium.launch({
  executablePath: args.chromium, headless: true, args: CHROMIUM_ARGS, timeout: 60000,
});
const output = {calls: [], ui: null, knob: null, console: [], pageErrors: [], env: null};
let failed = null;
try {
  const page = await browser.newPage({viewport: {width: 1100, height: 900}});
  page.setDefaultTimeout(timeout);
  page.on('console', (message) => output.console.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => output.pageErrors.push(String(error)));
  await page.goto(args.url);
  await page.waitForFunction(() => window.lcnetDemo !== undefined);
  await page.evaluate(() => window.lcnetDemo.ready.then(() => null));
  output.env = await page.evaluate(() => window.lcnetDemo.state.env);
  for (const {expectError, ...options} of calls) {
    if (expectError) {  // {error: "RangeError: ..."} instead of a result
      output.calls.push(await page.evaluate((o) => window.lcnetDemo.benchmark(o).then(
          () => ({error: null}), (error) => ({error: `${error.name}: ${error.message}`})),
      options));
    } else {
      output.calls.push(await page.evaluate((o) => window.lcnetDemo.benchmark(o), options));
    }
  }
  if (args.ui) {
    await page.click('#run');
    await page.waitForSelector('#results:not([hidden]) #summary tbody tr');
    await page.waitForFunction(() => !document.getElementById('run').disabled);
    output.ui = await page.evaluate(() => ({
      status: document.getElementById('status').textContent,
      statusIsError: document.getElementById('status').classList.contains('error'),
      rows: [...document.querySelectorAll('#summary tbody tr')].map(
          (tr) => [...tr.cells].map((td) => td.textContent)),
      header: [...document.querySelectorAll('#summary thead th')].map((th) => th.textContent),
      cards: document.querySelectorAll('#images-grid .card').length,
      stripCells: document.querySelectorAll('#images-grid .card .strip .cell').length,
      // Per card: its decisions line and, per strip, its label and the cells' titles.
      cardDetails: [...document.querySelectorAll('#images-grid .card')].map((card) => ({
        decisions: card.querySelector('.decisions')?.textContent ?? null,
        strips: [...card.querySelectorAll('.strip')].map((strip) => ({
          label: strip.querySelector('.strip-label')?.textContent ?? null,
          cells: [...strip.querySelectorAll('.cell')].map((c) => [c.className, c.title]),
        })),
      })),
    }));
    if (args.screenshot && args['clip-height']) {  // The whole page, its top only.
      const height = await page.evaluate(() => document.documentElement.scrollHeight);
      await page.screenshot({path: args.screenshot, fullPage: true, clip: {
        x: 0, y: 0, width: 1100, height: Math.min(height, Number(args['clip-height']))}});
    } else if (args.screenshot) {
      await page.locator('#results').screenshot({path: args.screenshot});
    }
  }
  if (args.budgets) {
    output.knob = {
      hidden: await page.evaluate(() => document.getElementById('knob').hidden),
      min: await page.evaluate(() => document.getElementById('budget').min),
      max: await page.evaluate(() => document.getElementById('budget').max),
      start: await page.evaluate(() => document.getElementById('budget').value),
      steps: [],
    };
    for (const step of args.budgets.split(',')) {
      if (step === 'min' || step === 'max') {
        await page.focus('#budget');
        await page.keyboard.press(step === 'min' ? 'Home' : 'End');
      } else if (step === 'default') {
        await page.click('#budget-default');
      } else {
        await page.evaluate((budget) => {
          const slider = document.getElementById('budget');
          slider.value = String(budget);
          slider.dispatchEvent(new Event('input', {bubbles: true}));
          slider.dispatchEvent(new Event('change', {bubbles: true}));
        }, Number(step));
      }
      await page.evaluate(() => window.lcnetDemo.idle());  // The run the move started.
      output.knob.steps.push(await page.evaluate((name) => {
        const demo = window.lcnetDemo;
        const result = demo.state.lastResult;
        const text = (id) => document.getElementById(id).textContent;
        return {
          step: name,
          budget: demo.state.knob.budget,
          slider: document.getElementById('budget').value,
          shown: text('budget-value'),
          readout: text('budget-readout'),
          status: text('status'),
          statusIsError: document.getElementById('status').classList.contains('error'),
          rows: [...document.querySelectorAll('#summary tbody tr')].map(
              (tr) => [...tr.cells].map((td) => td.textContent)),
          knobRows: [...document.querySelectorAll('#knob-runs tbody tr')].map((tr) => ({
            ...tr.dataset, cells: [...tr.cells].map((td) => td.textContent)})),
          result: {reference: result.reference, entries: result.entries,
                   summary: result.summary,
                   flops: Object.fromEntries(Object.entries(result.perImage).map(
                       ([entry, record]) => [entry, record.flops]))},
        };
      }, step));
    }
    if (args['knob-screenshot']) {  // The knob, the summary, its runs and the scatter.
      await page.screenshot({path: args['knob-screenshot'], fullPage: true, clip: {
        x: 0, y: 0, width: 1100, height: Math.min(
            await page.evaluate(() => document.documentElement.scrollHeight), 1500)}});
    }
  }
} catch (error) {
  failed = error;
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(output));
if (failed) {
  console.error(String(failed.stack ?? failed));
  process.exit(1);
}
