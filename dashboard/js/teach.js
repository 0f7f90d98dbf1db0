// "Teach": a technician names a product and adds example photos, from the live camera (one press,
// one frame: POST {"fromCamera": true}) or dropped files (each its own request). Below, every class
// taught on this kiosk with its examples as thumbnails and what each is recognised as now.
import { api } from './api.js';
import { $, acceptDrops, el, percent, setMessage } from './dom.js';

const LABEL = /^[A-Za-z0-9 _-]{1,40}$/;
const MAX_BYTES = 10 * 1024 * 1024;
/** Five presses make a class (the "five photos"); more is welcome. */
const SUGGESTED = 5;

export function createTeach() {
  const form = $('teach-form');
  const labelInput = $('teach-label');
  const capture = $('teach-capture');
  const count = $('teach-count');
  const drop = $('teach-drop');
  const input = $('teach-file');
  const message = $('teach-message');
  const list = $('teach-classes');
  let active = false;
  let busy = false;

  function label() {
    const value = labelInput.value.trim();
    if (!LABEL.test(value)) {
      setMessage(message, 'Name the product first: 1 to 40 letters, digits, spaces, “-” or “_”.');
      labelInput.focus();
      return null;
    }
    return value;
  }

  function explain(err) {
    if (err.status === 403) return 'Your role may not teach (technician or admin only).';
    if (err.status === 429) return 'Still learning the previous photo; press again in a moment.';
    return err.message;
  }

  async function addExample(name, request, what) {
    const r = await api(`/api/classes/${encodeURIComponent(name)}/examples`, { method: 'POST', ...request });
    count.textContent = r.examples < SUGGESTED ? `${r.examples} of ${SUGGESTED}` : `${r.examples} examples`;
    setMessage(message, `Learned ${r.label} from ${what} (${r.examples} example${r.examples === 1 ? '' : 's'}).`, 'ok');
    return r;
  }

  async function run(task) {
    if (busy) return;
    busy = true;
    capture.disabled = true;
    try {
      await task();
      await load();
    } catch (err) {
      if (err.status !== 401) setMessage(message, explain(err));
    } finally {
      busy = false;
      capture.disabled = false;
    }
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = label();
    if (name) void run(() => addExample(name, { json: { fromCamera: true } }, 'the camera'));
  });

  function uploadFiles(files) {
    const name = label();
    if (!name) return;
    void run(async () => {
      for (const file of files) {
        if (!/^image\/(jpeg|png|webp)$/.test(file.type) || file.size > MAX_BYTES) {
          setMessage(message, `${file.name}: choose JPEG, PNG or WebP photos of at most 10 MB.`);
          return;
        }
        const body = new FormData();
        body.append('image', file, file.name);
        await addExample(name, { body }, file.name);
      }
    });
  }

  input.addEventListener('change', () => {
    if (input.files?.length) uploadFiles([...input.files]);
    input.value = '';
  });
  acceptDrops(drop, uploadFiles);

  function thumb(cls, example) {
    const seen = example.recognised;
    const right = seen && seen.label === cls.label;
    const caption = seen ? `${seen.label} ${percent(seen.score)}` : 'not recognised';
    return el('li', {}, el('figure', {},
      el('img', { src: `/api/classes/${encodeURIComponent(cls.label)}/examples/${example.id}.jpg`, alt: `Example of ${cls.label}`, loading: 'lazy' }),
      el('figcaption', { className: right ? '' : 'miss' }, `seen as ${caption}`),
    ));
  }

  async function renderClass(cls) {
    const { examples } = await api(`/api/classes/${encodeURIComponent(cls.label)}/examples`);
    const forget = el('button', { type: 'button', className: 'btn btn-danger' }, cls.source === 'model' ? `Forget ${cls.label} examples` : `Forget ${cls.label}`);
    forget.addEventListener('click', () => void run(async () => {
      await api(`/api/classes/${encodeURIComponent(cls.label)}`, { method: 'DELETE' });
      setMessage(message, `Forgot ${cls.label}.`, 'ok');
    }));
    const kind = cls.source === 'model' ? 'refines the model’s class' : 'learned on this kiosk';
    return el('li', { className: 'card teach-class', dataset: { label: cls.label } },
      el('header', {}, el('h2', {}, cls.label), el('span', { className: 'muted' }, `${cls.examples} example${cls.examples === 1 ? '' : 's'} · ${kind}`), forget),
      el('ol', { className: 'thumbs', 'aria-label': `Examples of ${cls.label}` }, ...examples.map((e) => thumb(cls, e))),
    );
  }

  async function load() {
    try {
      const { classes, learning } = await api('/api/classes');
      const taught = classes.filter((c) => c.source === 'learned' || c.examples > 0);
      list.replaceChildren(...await Promise.all(taught.map(renderClass)));
      if (!learning) setMessage(message, 'This kiosk’s model cannot learn new products (it has no cosine head).');
    } catch (err) {
      if (err.status !== 401) setMessage(message, explain(err));
    }
  }

  return {
    setActive(on) {
      active = on;
      if (active) void load();
    },
    reset() {
      list.replaceChildren();
      labelInput.value = '';
      count.textContent = '';
      setMessage(message, '');
    },
  };
}
