/**
 * The sidebar panel: pick a capture under the server root, run Suricata through the
 * REST API, see the alert groups, filter network ranges, list the IoCs with their
 * VirusTotal verdicts and links, and open the capture in a notebook with the CaseWidget.
 *
 * Plain DOM in a Lumino widget; all the work happens on the server (the same pipeline
 * as the CLI and the CaseWidget), the panel only asks and shows.
 */
import { Widget } from '@lumino/widgets';

import { ApiError, Capture, Page, Ranges, Row, Run, SauceApi } from './api';

const POLL_MS = 500;
const ALERT_SAMPLE = 10000;
const IOC_LIMIT = 500;
const VT_PAGE = 'https://www.virustotal.com/gui/ip-address/';

type Attrs = Record<string, string>;

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function size(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

function rangeInput(name: string): HTMLInputElement {
  return h('input', {
    class: 'jp-sauce-input',
    name,
    placeholder: 'e.g. 10.42.0.0/16, fe80::/10',
    title: 'Addresses and CIDRs, IPv4 or IPv6, separated by commas or spaces'
  });
}

/** What the panel needs from JupyterLab: opening a notebook for a capture. */
export interface PanelHost {
  openNotebook(capturePath: string): Promise<void>;
}

export class SaucePanel extends Widget {
  private readonly api: SauceApi;
  private readonly statusLine = h('div', { class: 'jp-sauce-status' });
  private readonly captureList = h('ul', { class: 'jp-sauce-captures', role: 'listbox' });
  private readonly homeNet = h('input', {
    class: 'jp-sauce-input',
    name: 'home_net',
    placeholder: 'server default'
  });
  private readonly rules = h('input', {
    class: 'jp-sauce-input',
    name: 'rules',
    placeholder: 'server default'
  });
  private readonly runButton = h('button', { class: 'jp-sauce-run', disabled: '' }, 'Analyse');
  private readonly cancelButton = h('button', { class: 'jp-sauce-cancel', hidden: '' }, 'Cancel');
  private readonly notebookButton = h(
    'button',
    { class: 'jp-sauce-notebook', disabled: '' },
    'Open in notebook'
  );
  private readonly progress = h('progress', { class: 'jp-sauce-progress', max: '1', hidden: '' });
  private readonly message = h('div', { class: 'jp-sauce-message' });
  private readonly errorLine = h('div', { class: 'jp-sauce-error', role: 'alert' });
  private readonly results = h('div', { class: 'jp-sauce-results', hidden: '' });
  private readonly summary = h('div', { class: 'jp-sauce-summary' });
  private readonly notes = h('ul', { class: 'jp-sauce-notes' });
  private readonly ranges: Record<keyof Ranges, HTMLInputElement> = {
    exclude_src: rangeInput('exclude_src'),
    exclude_dst: rangeInput('exclude_dst'),
    include_src: rangeInput('include_src'),
    include_dst: rangeInput('include_dst')
  };
  private readonly rangeError = h('div', { class: 'jp-sauce-error jp-sauce-range-error' });
  private readonly hostsToggle = h('input', { type: 'checkbox', class: 'jp-sauce-hosts' });
  private readonly signatures = h('table', { class: 'jp-sauce-signatures' });
  private readonly iocTable = h('table', { class: 'jp-sauce-iocs' });
  private readonly enrichButton = h('button', { class: 'jp-sauce-enrich' }, 'VirusTotal');
  private readonly intelLine = h('div', { class: 'jp-sauce-intel' });

  private selected: Capture | null = null;
  private run: Run | null = null;
  private intel = new Map<string, Row>();
  private iocRows: Row[] = [];
  private polling = 0;

  constructor(
    private readonly host: PanelHost,
    api?: SauceApi
  ) {
    super();
    this.api = api ?? new SauceApi();
    this.id = 'jupyter-sauce-panel';
    this.addClass('jp-SaucePanel');
    this.title.caption = 'Sauce: packet-capture triage';
    this.build();
  }

  private build(): void {
    const refresh = h('button', { class: 'jp-sauce-refresh', title: 'List the captures again' }, '⟳');
    refresh.addEventListener('click', () => void this.refresh());
    this.runButton.addEventListener('click', () => void this.start());
    this.cancelButton.addEventListener('click', () => void this.cancelRun());
    this.notebookButton.addEventListener('click', () => void this.openNotebook());
    this.enrichButton.addEventListener('click', () => void this.enrich());
    this.hostsToggle.addEventListener('change', () => void this.showResults());
    const apply = h('button', { class: 'jp-sauce-apply' }, 'Apply ranges');
    apply.addEventListener('click', () => void this.showResults());
    for (const input of Object.values(this.ranges)) {
      input.addEventListener('keydown', event => {
        if (event.key === 'Enter') {
          void this.showResults();
        }
      });
    }
    const label = (text: string, input: HTMLElement) =>
      h('label', { class: 'jp-sauce-field' }, h('span', {}, text), input);
    this.results.append(
      this.summary,
      this.notes,
      h(
        'fieldset',
        { class: 'jp-sauce-ranges' },
        h('legend', {}, 'Network ranges'),
        label('Exclude src', this.ranges.exclude_src),
        label('Exclude dst', this.ranges.exclude_dst),
        label('Include src', this.ranges.include_src),
        label('Include dst', this.ranges.include_dst),
        apply,
        this.rangeError
      ),
      h('h3', {}, 'Alerts by signature'),
      h('div', { class: 'jp-sauce-table-box' }, this.signatures),
      h(
        'div',
        { class: 'jp-sauce-ioc-head' },
        h('h3', {}, 'IoCs'),
        h('label', {}, this.hostsToggle, ' all hosts in the capture'),
        this.enrichButton
      ),
      this.intelLine,
      h('div', { class: 'jp-sauce-table-box' }, this.iocTable)
    );
    this.node.append(
      h('header', { class: 'jp-sauce-header' }, h('h2', {}, 'Sauce'), refresh),
      this.statusLine,
      h('h3', {}, 'Captures'),
      this.captureList,
      label('HOME_NET', this.homeNet),
      label('Rules', this.rules),
      h(
        'div',
        { class: 'jp-sauce-actions' },
        this.runButton,
        this.cancelButton,
        this.notebookButton
      ),
      this.progress,
      this.message,
      this.errorLine,
      this.results
    );
  }

  protected onAfterAttach(): void {
    void this.refresh();
  }

  private showError(error: unknown, target: HTMLElement = this.errorLine): void {
    const message = error instanceof ApiError || error instanceof Error ? error.message : String(error);
    target.textContent = message;
  }

  async refresh(): Promise<void> {
    this.errorLine.textContent = '';
    try {
      const status = await this.api.status();
      const rules = status.ruleset;
      const ruleText = rules.error
        ? `rules: ${rules.error}`
        : `rules: ${rules.source ?? '?'} (${rules.rules ?? '?'} rules)`;
      const suricata = status.suricata.available
        ? `Suricata ${status.suricata.version}`
        : status.suricata.message ?? 'Suricata is not available';
      this.statusLine.textContent = `${suricata} · ${ruleText} · VirusTotal ${status.virustotal.mode}`;
      const problems = [
        status.error?.message,
        status.suricata.home_net_error,
        status.virustotal.key_problem
      ].filter((text): text is string => !!text);
      if (problems.length) {
        this.errorLine.textContent = problems.join(' ');
      }
      if (!this.homeNet.value) {
        this.homeNet.placeholder = status.suricata.home_net.join(', ');
      }
      const { captures, truncated } = await this.api.captures();
      this.listCaptures(captures, truncated);
    } catch (error) {
      this.showError(error);
    }
  }

  private listCaptures(captures: Capture[], truncated: boolean): void {
    this.captureList.replaceChildren();
    if (!captures.length) {
      this.captureList.append(
        h('li', { class: 'jp-sauce-empty' }, 'No .pcap, .pcapng or .cap files under the server root.')
      );
    }
    for (const capture of captures) {
      const item = h(
        'li',
        { class: 'jp-sauce-capture', role: 'option', title: capture.path, 'data-path': capture.path },
        h('span', { class: 'jp-sauce-capture-name' }, capture.path),
        h('span', { class: 'jp-sauce-capture-size' }, size(capture.size)),
        capture.analysed ? h('span', { class: 'jp-sauce-analysed', title: 'analysed' }, '✓') : ''
      );
      if (this.selected?.path === capture.path) {
        item.classList.add('jp-mod-selected');
      }
      item.addEventListener('click', () => this.select(capture, item));
      this.captureList.append(item);
    }
    if (truncated) {
      this.captureList.append(h('li', { class: 'jp-sauce-empty' }, 'More captures than listed.'));
    }
  }

  private select(capture: Capture, item: HTMLElement): void {
    this.selected = capture;
    for (const other of Array.from(this.captureList.children)) {
      other.classList.toggle('jp-mod-selected', other === item);
    }
    this.runButton.disabled = false;
    this.notebookButton.disabled = false;
    this.message.textContent = capture.analysed
      ? 'Analysed before: Analyse opens the stored result.'
      : '';
  }

  private async start(): Promise<void> {
    if (!this.selected) {
      return;
    }
    this.errorLine.textContent = '';
    this.results.hidden = true;
    this.intel.clear();
    try {
      this.run = await this.api.startRun(this.selected.path, this.homeNet.value, this.rules.value);
    } catch (error) {
      this.showError(error);
      return;
    }
    this.runButton.disabled = true;
    this.cancelButton.hidden = false;
    this.progress.hidden = false;
    this.progress.removeAttribute('value');
    const token = ++this.polling;
    while (this.run && token === this.polling) {
      this.showProgress(this.run);
      if (['done', 'failed', 'cancelled'].includes(this.run.state)) {
        break;
      }
      await new Promise(resolve => setTimeout(resolve, POLL_MS));
      try {
        this.run = await this.api.run(this.run.id);
      } catch (error) {
        this.showError(error);
        break;
      }
    }
    if (token !== this.polling) {
      return;
    }
    this.runButton.disabled = false;
    this.cancelButton.hidden = true;
    this.progress.hidden = true;
    if (this.run?.state === 'done') {
      this.message.textContent = '';
      void this.refresh();
      await this.showResults();
    } else if (this.run?.state === 'failed') {
      this.message.textContent = '';
      this.errorLine.textContent = this.run.error?.message ?? 'The analysis failed.';
      this.errorLine.title = this.run.error?.details ?? '';
    } else if (this.run?.state === 'cancelled') {
      this.message.textContent = 'Cancelled.';
    }
  }

  private showProgress(run: Run): void {
    const p = run.progress;
    if (p?.fraction !== null && p?.fraction !== undefined) {
      this.progress.value = p.fraction;
    }
    const elapsed = p ? ` (${p.elapsed.toFixed(1)} s)` : '';
    this.message.textContent = `${run.state}: ${p?.message ?? ''}${elapsed}`;
  }

  private async cancelRun(): Promise<void> {
    if (this.run) {
      try {
        this.run = await this.api.cancel(this.run.id);
      } catch (error) {
        this.showError(error);
      }
    }
  }

  private rangeValues(): Ranges {
    const out: Ranges = {};
    for (const [name, input] of Object.entries(this.ranges)) {
      out[name as keyof Ranges] = input.value;
    }
    return out;
  }

  /** Fetch the alert groups and IoCs of the done run with the range filters. */
  async showResults(): Promise<void> {
    const run = this.run;
    if (!run || run.state !== 'done') {
      return;
    }
    this.rangeError.textContent = '';
    for (const input of Object.values(this.ranges)) {
      input.classList.remove('jp-mod-invalid');
    }
    const ranges = this.rangeValues();
    let alerts: Page;
    let iocs: Page;
    try {
      alerts = await this.api.page(run.id, 'alerts', ranges, ALERT_SAMPLE);
      iocs = await this.api.page(run.id, this.hostsToggle.checked ? 'hosts' : 'iocs', ranges, IOC_LIMIT);
    } catch (error) {
      const field = error instanceof ApiError ? error.field : null;
      if (field && field in this.ranges) {
        this.ranges[field as keyof Ranges].classList.add('jp-mod-invalid');
        this.showError(error, this.rangeError);
      } else {
        this.showError(error);
      }
      return;
    }
    const counts = run.counts ?? {};
    const ruleset = run.ruleset ?? {};
    const filtered = alerts.total === alerts.unfiltered ? '' : ` (${alerts.total} after the ranges)`;
    this.summary.textContent =
      `${run.path}: ${counts.alerts ?? 0} alerts${filtered}, ${counts.flows ?? 0} flows · ` +
      `HOME_NET ${(run.home_net ?? []).join(', ')} · rules ${ruleset.source ?? ''}` +
      (run.reused ? ' · stored result' : '');
    this.notes.replaceChildren(
      ...[...run.notices, ...run.warnings, ...alerts.notes].map(text => h('li', {}, text))
    );
    this.showSignatures(alerts);
    this.iocRows = iocs.rows;
    this.showIocs();
    this.results.hidden = false;
  }

  private showSignatures(alerts: Page): void {
    const groups = new Map<string, { count: number; sid: string | number | null }>();
    for (const row of alerts.rows) {
      const name = String(row.signature ?? '(no signature)');
      const group = groups.get(name) ?? { count: 0, sid: row.signature_id };
      group.count += 1;
      groups.set(name, group);
    }
    const rows = [...groups.entries()].sort((a, b) => b[1].count - a[1].count);
    this.signatures.replaceChildren(
      h('tr', {}, h('th', {}, 'Alerts'), h('th', {}, 'SID'), h('th', {}, 'Signature'))
    );
    if (!rows.length) {
      this.signatures.append(h('tr', {}, h('td', { colspan: '3' }, 'No alerts.')));
    }
    for (const [name, group] of rows) {
      this.signatures.append(
        h('tr', {}, h('td', {}, String(group.count)), h('td', {}, String(group.sid ?? '')), h('td', {}, name))
      );
    }
    if (alerts.total > alerts.rows.length) {
      this.signatures.append(
        h('tr', {}, h('td', { colspan: '3' }, `Counted over the first ${alerts.rows.length} alerts.`))
      );
    }
  }

  private showIocs(): void {
    const hosts = this.hostsToggle.checked;
    const countName = hosts ? 'flows' : 'alerts';
    this.iocTable.replaceChildren(
      h(
        'tr',
        {},
        h('th', {}, 'IP'),
        h('th', {}, 'Class'),
        h('th', {}, hosts ? 'Flows' : 'Alerts'),
        h('th', {}, 'VT malicious'),
        h('th', {}, 'AS owner'),
        h('th', {}, 'VirusTotal')
      )
    );
    if (!this.iocRows.length) {
      this.iocTable.append(h('tr', {}, h('td', { colspan: '6' }, 'No addresses.')));
    }
    for (const row of this.iocRows) {
      const ip = String(row.ip);
      const intel = this.intel.get(ip);
      let verdict = '';
      if (intel) {
        verdict =
          intel.error !== null && intel.error !== undefined
            ? String(intel.error)
            : `${intel.malicious ?? '–'} / ${intel.suspicious ?? '–'} susp.`;
      }
      const link =
        row.ip_class === 'global'
          ? h(
              'a',
              {
                class: 'jp-sauce-vt-link',
                href: VT_PAGE + encodeURIComponent(ip),
                target: '_blank',
                rel: 'noopener noreferrer'
              },
              'open'
            )
          : '';
      this.iocTable.append(
        h(
          'tr',
          { 'data-ip': ip },
          h('td', { class: 'jp-sauce-ip' }, ip),
          h('td', {}, String(row.ip_class ?? '')),
          h('td', {}, String(row[countName] ?? '')),
          h('td', { class: 'jp-sauce-verdict' }, verdict),
          h('td', {}, String(intel?.as_owner ?? '')),
          h('td', {}, link)
        )
      );
    }
  }

  private async enrich(): Promise<void> {
    const ips = this.iocRows.filter(row => row.ip_class === 'global').map(row => String(row.ip));
    if (!ips.length) {
      this.intelLine.textContent = 'No global addresses to look up.';
      return;
    }
    this.enrichButton.disabled = true;
    this.intelLine.textContent = `Looking up ${ips.length} address(es)…`;
    try {
      const result = await this.api.intel(ips);
      for (const row of result.rows) {
        this.intel.set(String(row.ip), row);
      }
      const mode = result.mode === 'offline' ? 'offline (saved reports only, no API key)' : 'live';
      this.intelLine.textContent =
        `VirusTotal ${mode}; quota ${result.quota.used_today}/${result.quota.limit} today` +
        (result.notices.length ? `. ${result.notices.join(' ')}` : '');
      this.showIocs();
    } catch (error) {
      this.showError(error, this.intelLine);
    } finally {
      this.enrichButton.disabled = false;
    }
  }

  private async openNotebook(): Promise<void> {
    if (this.selected) {
      try {
        await this.host.openNotebook(this.selected.path);
      } catch (error) {
        this.showError(error);
      }
    }
  }
}
