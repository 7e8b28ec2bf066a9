// kiln web UI: the live log (server-sent events), its search and error
// highlighting, and copy buttons. Pages work without it; it only adds to them.
'use strict';

const errorLine = /\b(error|fail(ed|ure)?|fatal|E:)\b|^dpkg-buildpackage: error/i;

function startLog(section) {
  const pre = section.querySelector('.log-text');
  const status = section.querySelector('.log-status');
  const search = section.querySelector('.log-search');
  const onlyErrors = section.querySelector('.log-errors');
  let partial = '';
  let lines = 0;
  const addLine = (text) => {
    const span = document.createElement('span');
    span.textContent = text + '\n';
    if (errorLine.test(text)) {
      span.className = 'err';
    }
    lines++;
    filterLine(span);
    pre.appendChild(span);
  };
  const filterLine = (span) => {
    const query = search.value.toLowerCase();
    span.classList.toggle(
      'hidden',
      query !== '' && !span.textContent.toLowerCase().includes(query),
    );
  };
  const atBottom = () => pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
  const source = new EventSource(section.dataset.log);
  source.addEventListener('open', () => {
    status.textContent = section.dataset.ended === 'true' ? 'loading…' : 'live';
  });
  source.addEventListener('log', (event) => {
    const follow = atBottom();
    const text = partial + JSON.parse(event.data);
    const parts = text.split('\n');
    partial = parts.pop();
    for (const line of parts) {
      addLine(line);
    }
    if (follow) {
      pre.scrollTop = pre.scrollHeight;
    }
    section.dataset.lines = String(lines);
  });
  source.addEventListener('end', () => {
    source.close();
    if (partial !== '') {
      addLine(partial);
      partial = '';
    }
    section.dataset.lines = String(lines);
    status.textContent = `complete, ${lines} lines`;
    refreshState();
  });
  source.addEventListener('error', () => {
    status.textContent = 'reconnecting…';
  });
  search.addEventListener('input', () => {
    for (const span of pre.children) {
      filterLine(span);
    }
  });
  onlyErrors.addEventListener('change', () => {
    pre.classList.toggle('errors-only', onlyErrors.checked);
  });
}

// When the log ends the task has ended: show its new state without a reload.
async function refreshState() {
  const response = await fetch(location.href, { credentials: 'same-origin' });
  if (!response.ok) {
    return;
  }
  const fresh = new DOMParser().parseFromString(await response.text(), 'text/html');
  for (const id of ['task-state', 'why']) {
    const now = fresh.getElementById(id);
    const old = document.getElementById(id);
    if (now !== null && old !== null) {
      old.replaceWith(now);
    }
  }
}

function startCopyButtons() {
  for (const button of document.querySelectorAll('.copy-button')) {
    button.addEventListener('click', async () => {
      const text = button.parentElement.querySelector('pre').textContent;
      await navigator.clipboard.writeText(text);
      button.textContent = 'Copied';
    });
  }
}

// Times as ages ("3 min ago"), with the exact time kept in the title.
function showAges() {
  for (const node of document.querySelectorAll('time[datetime]')) {
    const seconds = Math.round((Date.now() - Date.parse(node.dateTime)) / 1000);
    if (Number.isFinite(seconds) && seconds >= 0) {
      node.title = node.textContent;
      node.textContent =
        seconds < 120
          ? `${seconds} s ago`
          : seconds < 7200
            ? `${Math.round(seconds / 60)} min ago`
            : seconds < 172800
              ? `${Math.round(seconds / 3600)} h ago`
              : node.textContent;
    }
  }
}

document.addEventListener('DOMContentLoaded', () => {
  for (const section of document.querySelectorAll('section.log[data-log]')) {
    startLog(section);
  }
  startCopyButtons();
  showAges();
});
