// Files and firmware: list, upload with progress (administrators), download.
import { useState } from 'preact/hooks';
import { api, download, get, query, upload, type FirmwareInfo, type Folder } from '../api';
import { session } from '../auth';
import { useStore } from '../store';
import { ProblemBox, formatBytes, formatTime, useAction, useLoad } from '../ui';

function Uploader(props: { label: string; target: (file: File) => string; onDone: () => void; testid: string }) {
  const [file, setFile] = useState<File | null>(null);
  const [progress, setProgress] = useState<{ sent: number; total: number } | null>(null);
  const action = useAction();
  return (
    <form
      class="inline upload"
      onSubmit={async (e) => {
        e.preventDefault();
        const form = e.currentTarget;
        if (!file) return;
        setProgress({ sent: 0, total: file.size });
        const ok = await action.run(() => upload(props.target(file), file, file.type, (sent, total) => setProgress({ sent, total })));
        if (ok) {
          setFile(null);
          form.reset();
          props.onDone();
        }
      }}
    >
      <input type="file" onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)} data-testid={`${props.testid}-input`} />
      <button class="primary" disabled={!file || action.busy} data-testid={`${props.testid}-button`}>
        {props.label}
      </button>
      {progress && (
        <span class="progress" data-testid={`${props.testid}-progress`}>
          <progress max={progress.total || 1} value={progress.sent} /> {formatBytes(progress.sent)} / {formatBytes(progress.total)}
          {!action.busy && !action.error ? ' ✓' : ''}
        </span>
      )}
      <ProblemBox error={action.error} />
    </form>
  );
}

export function FilesPage() {
  const user = useStore(session)!.user;
  const isAdmin = user.role === 'admin';
  const [folder, setFolder] = useState('');
  const files = useLoad((signal) => get<Folder>(`/api/files${query({ folder })}`, signal), [folder]);
  const firmware = useLoad((signal) => get<FirmwareInfo[]>('/api/firmware', signal), []);
  const action = useAction();
  const parts = folder ? folder.split('/') : [];
  return (
    <section>
      <h1>Files</h1>
      <div class="card">
        <div class="toolbar">
          <nav class="crumbs">
            <button class="link" onClick={() => setFolder('')}>
              files
            </button>
            {parts.map((p, i) => (
              <>
                {' / '}
                <button class="link" onClick={() => setFolder(parts.slice(0, i + 1).join('/'))}>
                  {p}
                </button>
              </>
            ))}
          </nav>
        </div>
        {isAdmin && <Uploader label="Upload" testid="file-upload" target={(f) => `/api/files/${[...parts, f.name].map(encodeURIComponent).join('/')}`} onDone={files.reload} />}
        <ProblemBox error={files.error ?? action.error} />
        <table class="grid" data-testid="files-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Type</th>
              <th>Size</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {files.data?.items.map((f) => (
              <tr key={f.path} data-file={f.name}>
                <td>
                  {f.isFolder ? (
                    <button class="link" onClick={() => setFolder(f.path)}>
                      📁 {f.name}
                    </button>
                  ) : (
                    <span class="mono">{f.name}</span>
                  )}
                </td>
                <td>{f.contentType ?? ''}</td>
                <td>{f.isFolder ? '' : formatBytes(f.size)}</td>
                <td class="actions">
                  {!f.isFolder && (
                    <button onClick={() => action.run(() => download(`/api/files/${f.path.split('/').map(encodeURIComponent).join('/')}`, f.name))} data-testid="file-download">
                      Download
                    </button>
                  )}
                  {!f.isFolder && isAdmin && (
                    <button
                      class="danger"
                      onClick={() =>
                        confirm(`Delete ${f.path}?`) &&
                        action.run(async () => (await api('DELETE', `/api/files/${f.path.split('/').map(encodeURIComponent).join('/')}`), files.reload()))
                      }
                    >
                      Delete
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {files.data?.items.length === 0 && <p class="muted">No file here.</p>}
      </div>

      <h2>Firmware</h2>
      <div class="card">
        {isAdmin && <Uploader label="Upload firmware" testid="firmware-upload" target={(f) => `/api/firmware/${encodeURIComponent(f.name)}`} onDone={firmware.reload} />}
        <ProblemBox error={firmware.error} />
        <table class="grid" data-testid="firmware-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Size</th>
              <th>Stored</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {firmware.data?.map((f) => (
              <tr key={f.id} data-firmware={f.name}>
                <td class="mono">{f.name}</td>
                <td>{formatBytes(f.size)}</td>
                <td>{formatTime(f.createdAt)}</td>
                <td class="actions">
                  <button onClick={() => action.run(() => download(`/api/firmware/${encodeURIComponent(f.name)}`, f.name))}>Download</button>
                  {isAdmin && (
                    <button
                      class="danger"
                      onClick={() => confirm(`Delete firmware ${f.name}?`) && action.run(async () => (await api('DELETE', `/api/firmware/${encodeURIComponent(f.name)}`), firmware.reload()))}
                    >
                      Delete
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {firmware.data?.length === 0 && <p class="muted">No firmware stored.</p>}
      </div>
    </section>
  );
}
