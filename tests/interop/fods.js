// fods.js FILE.fods: the first sheet of a flat OpenDocument spreadsheet
// (what LibreOffice writes with --convert-to fods) as JSON on stdout: an
// array of rows, each an array of cells {type, text, value, formula}.
// Repeated rows and cells are expanded; trailing empty ones are dropped.
'use strict';
const fs = require('fs');

const xml = fs.readFileSync(process.argv[2], 'utf8');
const table = /<table:table [^>]*>([\s\S]*?)<\/table:table>/.exec(xml);
if (!table) {
	console.error('no table in ' + process.argv[2]);
	process.exit(1);
}

function attr(attrs, name) {
	const m = new RegExp(name + '="([^"]*)"').exec(attrs);
	return m ? decode(m[1]) : undefined;
}

function decode(s) {
	return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>')
		.replace(/&quot;/g, '"').replace(/&apos;/g, "'")
		.replace(/&#(\d+);/g, (_, n) => String.fromCodePoint(+n))
		.replace(/&#x([0-9a-fA-F]+);/g, (_, n) => String.fromCodePoint(parseInt(n, 16)))
		.replace(/&amp;/g, '&');
}

// the text of a cell: its paragraphs joined by line ends
function text(inner) {
	const paras = [];
	const re = /<text:p(?:\s[^>]*)?(?:\/>|>([\s\S]*?)<\/text:p>)/g;
	let m;
	while ((m = re.exec(inner)))
		paras.push(m[1] || '');
	return paras.map((p) => decode(p
		.replace(/<text:s text:c="(\d+)"\/>/g, (_, n) => ' '.repeat(+n))
		.replace(/<text:s\/>/g, ' ')
		.replace(/<text:tab\/>/g, '\t')
		.replace(/<text:line-break\/>/g, '\n')
		.replace(/<[^>]+>/g, ''))).join('\n');
}

const rows = [];
const rowRe = /<table:table-row([^>]*?)(?:\/>|>([\s\S]*?)<\/table:table-row>)/g;
let r;
while ((r = rowRe.exec(table[1]))) {
	const cells = [];
	const cellRe = /<table:(?:covered-)?table-cell([^>]*?)(?:\/>|>([\s\S]*?)<\/table:(?:covered-)?table-cell>)/g;
	let c;
	while ((c = cellRe.exec(r[2] || ''))) {
		const a = c[1];
		const cell = {
			type: attr(a, 'office:value-type') || 'empty',
			text: text(c[2] || ''),
		};
		const v = attr(a, 'office:value');
		if (v !== undefined)
			cell.value = v;
		const f = attr(a, 'table:formula');
		if (f !== undefined)
			cell.formula = f;
		const n = +(attr(a, 'table:number-columns-repeated') || 1);
		for (let i = 0; i < Math.min(n, 1024); i++)
			cells.push(cell);
	}
	while (cells.length && cells[cells.length - 1].type === 'empty')
		cells.pop();
	const n = +(attr(r[1], 'table:number-rows-repeated') || 1);
	for (let i = 0; i < Math.min(n, 1024); i++)
		rows.push(cells);
}
while (rows.length && !rows[rows.length - 1].length)
	rows.pop();
process.stdout.write(JSON.stringify(rows) + '\n');
