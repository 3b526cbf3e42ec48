/**
 * jupyter_sauce's JupyterLab plugin: the "Sauce" sidebar panel in the left area.
 *
 * "Open in notebook" writes (once) a notebook beside the capture that runs
 * `%load_ext jupyter_sauce` and `%sauce <capture>`, then opens it.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { LabIcon } from '@jupyterlab/ui-components';

import { SaucePanel } from './panel';

const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
  '<path class="jp-icon3" fill="#616161" d="M7 2h10v3l-2 2v2.2c2.9 1.1 5 3.9 5 7.3 0 ' +
  '4.1-3.6 5.5-8 5.5s-8-1.4-8-5.5c0-3.4 2.1-6.2 5-7.3V7L7 5V2zm2 12a1.5 1.5 0 100 3 1.5 ' +
  '1.5 0 000-3zm5-2a2 2 0 100 4 2 2 0 000-4z"/></svg>';

export const sauceIcon = new LabIcon({ name: 'jupyter_sauce:icon', svgstr: ICON_SVG });

function notebookFor(captureName: string): object {
  const source = (lines: string[]) => lines.join('\n');
  return {
    cells: [
      {
        cell_type: 'markdown',
        metadata: {},
        source: source([`# Triage of \`${captureName}\``, '', 'Run the cell, then press Run in the widget.'])
      },
      {
        cell_type: 'code',
        execution_count: null,
        metadata: {},
        outputs: [],
        source: source(['%load_ext jupyter_sauce', `%sauce ${JSON.stringify(captureName)}`])
      }
    ],
    metadata: {
      kernelspec: { display_name: 'Python 3 (ipykernel)', language: 'python', name: 'python3' }
    },
    nbformat: 4,
    nbformat_minor: 5
  };
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter_sauce:sidebar',
  description: 'Packet-capture triage: Suricata alerts, ranges, IoCs and VirusTotal links.',
  autoStart: true,
  optional: [ILayoutRestorer],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null) => {
    const contents = app.serviceManager.contents;
    const panel = new SaucePanel({
      async openNotebook(capturePath: string): Promise<void> {
        const slash = capturePath.lastIndexOf('/');
        const folder = slash >= 0 ? capturePath.slice(0, slash) : '';
        const name = capturePath.slice(slash + 1);
        const stem = name.replace(/\.(pcapng|pcap|cap)$/i, '');
        const path = (folder ? `${folder}/` : '') + `${stem}.sauce.ipynb`;
        try {
          await contents.get(path, { content: false });
        } catch {
          await contents.save(path, { type: 'notebook', format: 'json', content: notebookFor(name) });
        }
        await app.commands.execute('docmanager:open', { path });
      }
    });
    panel.title.icon = sauceIcon;
    app.shell.add(panel, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(panel, 'jupyter-sauce-panel');
    }
  }
};

export default plugin;
