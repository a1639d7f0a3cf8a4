// lo.js: the spreadsheet of the LibreOffice round trip and its checks.
//   node lo.js source OUT.fods A B      the sheet an admin starts from
//                                       (A, B: mailboxes that exist)
//   node lo.js results FODS-JSON A B    results.csv as LibreOffice opened it
//   node lo.js failed FODS-JSON A B     failed.csv as LibreOffice opened it
// FODS-JSON is what fods.js prints. A check prints each difference and
// exits 1 when there is one: every cell is compared, no cell may be a
// formula, and no number may show an apostrophe.
'use strict';
const fs = require('fs');

const [cmd, path, A, B] = process.argv.slice(2);

// The columns and rows. A cell is a string (text) or a number (a number
// cell in the source, which LibreOffice exports in its own notation).
// 'mark': mbxfix writes the cell with a leading quote (a formula).
const header = ['mailbox', 'amount', 'phone', 'note', 'formula'];
const rows = [
	{ result: 'ok', cells: [A, -12.5, '+33 1 23 45 67 89', 'café crème', '=1+1'] },
	{ result: 'ok', cells: [B, 1234.5, '+1-555-0100', 'naïve; "quoted", comma', '@SUM(A1)'] },
	{ result: 'failed', cells: ['ghost@contoso.com', -3, '+44 20 7946 0958', 'line one\nline two', '-x'] },
	{ result: 'invalid', cells: ['not-an-address', 0.25, '', '€ 5 ½', '+cmd|\' /C calc\'!A0'] },
];

// what mbxfix neutralises: see src/cell.h (these cells, named here)
const marked = new Set(['=1+1', '@SUM(A1)', '-x', '+cmd|\' /C calc\'!A0', '+1-555-0100']);

function esc(s) {
	return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;')
		.replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function sourceCell(v) {
	if (typeof v === 'number')
		return `<table:table-cell office:value-type="float" office:value="${v}"><text:p>${v}</text:p></table:table-cell>`;
	if (v === '')
		return '<table:table-cell/>';
	const paras = String(v).split('\n').map((p) => `<text:p>${esc(p)}</text:p>`).join('');
	return `<table:table-cell office:value-type="string">${paras}</table:table-cell>`;
}

function source(out) {
	const xmlRows = [header, ...rows.map((r) => r.cells)].map((cells) =>
		'<table:table-row>' + cells.map(sourceCell).join('') + '</table:table-row>');
	fs.writeFileSync(out, `<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 office:version="1.2" office:mimetype="application/vnd.oasis.opendocument.spreadsheet">
<office:body><office:spreadsheet><table:table table:name="Mailboxes">
${xmlRows.join('\n')}
</table:table></office:spreadsheet></office:body></office:document>
`);
}

let diffs = 0;
function differ(where, got, want) {
	diffs++;
	console.log(`${where}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

// One cell as LibreOffice opened it against what was meant.
function compare(where, cell, want) {
	cell = cell || { type: 'empty', text: '' };
	if (cell.formula !== undefined)
		differ(where + ' evaluated as a formula', cell.formula, 'no formula');
	if (typeof want === 'number') {
		if (cell.type !== 'float' || +cell.value !== want)
			differ(where + ' (a number)', cell, want);
		if (cell.text.startsWith("'"))
			differ(where + ' shows an apostrophe', cell.text, String(want));
		return;
	}
	const shown = marked.has(want) ? "'" + want : want;
	if (cell.text !== shown)
		differ(where, cell.text, shown);
	if (want !== '' && cell.type !== 'string')
		differ(where + ' type', cell.type, 'string');
}

function check(file, failed) {
	const sheet = JSON.parse(fs.readFileSync(file, 'utf8'));
	const want = failed ? rows.filter((r) => r.result !== 'ok') : rows;
	const tail = failed ? ['mbxfix_error_code', 'mbxfix_error'] :
		['result', 'set_profile', 'set_delivery'];

	header.concat(tail).forEach((h, i) => compare(`header ${i + 1}`, sheet[0][i], h));
	if (sheet.length - 1 !== want.length)
		differ('rows', sheet.length - 1, want.length);
	want.forEach((r, k) => {
		const got = sheet[k + 1] || [];
		r.cells.forEach((v, i) => compare(`row ${k + 1} ${header[i]}`, got[i], v));
		if (failed) {
			const code = got[header.length];
			if (!code || !code.text)
				differ(`row ${k + 1} mbxfix_error_code`, code, 'a code');
			if (r.result === 'invalid')
				compare(`row ${k + 1} mbxfix_error_code`, code, 'InvalidRow');
		} else {
			compare(`row ${k + 1} result`, got[header.length], r.result);
		}
	});
	// nothing anywhere was taken for a formula
	sheet.forEach((row, k) => row.forEach((c, i) => {
		if (c.formula !== undefined && k > 0 && i >= header.length)
			differ(`row ${k} column ${i + 1} evaluated as a formula`, c.formula, 'no formula');
	}));
	let cells = 0;
	sheet.forEach((row) => { cells += row.length; });
	console.log(`${file}: ${cells} cells compared, ${diffs} differences`);
	process.exit(diffs ? 1 : 0);
}

if (cmd === 'source')
	source(path);
else if (cmd === 'results' || cmd === 'failed')
	check(path, cmd === 'failed');
else {
	console.error('usage: lo.js source|results|failed FILE A B');
	process.exit(2);
}
